import { Injectable } from '@nestjs/common';
import type { ResponseStatus, Usage } from '@ratchet/core';
import type { Principal } from './api-keys.repository';
import { Sql, statement } from './sql';
import { usageJson } from './usage-sql';

// The console's list of responses: newest first, by keyset on (created_at, id), each filter
// a condition that is true when the filter is absent ($n IS NULL), so one prepared statement
// serves every combination. A tenant's list walks the (owner_id, created_at) index; an
// admin's the created_at index (see the console_response_list migration).

export interface ResponseListFilter {
  statuses: ResponseStatus[] | null;
  model: string | null;
  /** Only responses created at or after this instant. */
  createdAfter: Date | null;
  /** Only the responses of this API key (id). */
  ownerId: string | null;
  /** Only responses whose metadata holds every one of these pairs. */
  metadata: Record<string, string> | null;
  /** Only responses older than this position (the previous page's last row). */
  before: { createdAt: Date; id: string } | null;
  limit: number;
}

export interface ResponseListRow {
  id: string;
  owner_id: string;
  owner_name: string;
  status: ResponseStatus;
  model: string;
  background: boolean;
  stream: boolean;
  metadata: Record<string, string>;
  usage: Usage | null;
  error_code: string | null;
  step_count: number;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

/** Where a response stands, to tell whose console a change of it concerns. */
export interface ResponseOwnership {
  id: string;
  owner_id: string;
  status: ResponseStatus;
}

const LIST_COLUMNS = `r.id, r.owner_id, k.name AS owner_name, r.status::text AS status, r.model,
  r.background, r.stream, r.metadata,
  ${usageJson('r', { estimated: false })} AS usage, r.error ->> 'code' AS error_code, r.step_count,
  r.created_at, r.started_at, r.completed_at`;

const SQL = {
  one: statement(
    'console-response-row',
    `SELECT ${LIST_COLUMNS} FROM responses r JOIN api_keys k ON k.id = r.owner_id
      WHERE r.id = $1 AND r.store AND ($2::text IS NULL OR r.owner_id = $2)`,
  ),
  list: statement(
    'console-list-responses',
    `SELECT ${LIST_COLUMNS} FROM responses r JOIN api_keys k ON k.id = r.owner_id
      WHERE r.store
        AND ($1::text IS NULL OR r.owner_id = $1)
        AND ($2::text[] IS NULL OR r.status::text = ANY($2::text[]))
        AND ($3::text IS NULL OR r.model = $3)
        AND ($4::timestamptz IS NULL OR r.created_at >= $4)
        AND ($5::text IS NULL OR r.owner_id = $5)
        AND ($6::jsonb IS NULL OR r.metadata @> $6::jsonb)
        AND ($7::timestamptz IS NULL OR (r.created_at, r.id) < ($7, $8::text))
      ORDER BY r.created_at DESC, r.id DESC
      LIMIT $9`,
  ),
  ownership: statement(
    'console-response-ownership',
    `SELECT id, owner_id, status::text AS status FROM responses
      WHERE id = ANY($1::text[]) AND store`,
  ),
  keys: statement(
    'console-api-keys',
    `SELECT id, name, prefix, admin, created_at, revoked_at FROM api_keys ORDER BY created_at`,
  ),
};

export interface ApiKeyListing {
  id: string;
  name: string;
  prefix: string;
  admin: boolean;
  created_at: Date;
  revoked_at: Date | null;
}

/** Reads responses for people browsing them: filtered lists, and who owns what changed. */
@Injectable()
export class ResponseListRepository {
  constructor(private readonly sql: Sql) {}

  /** One page, newest first; a tenant sees its own responses, an admin everyone's. */
  async list(principal: Principal, filter: ResponseListFilter): Promise<ResponseListRow[]> {
    return this.sql.query<ResponseListRow>(SQL.list, [
      principal.admin ? null : principal.keyId,
      filter.statuses,
      filter.model,
      filter.createdAfter,
      filter.ownerId,
      filter.metadata === null ? null : JSON.stringify(filter.metadata),
      filter.before?.createdAt ?? null,
      filter.before?.id ?? null,
      filter.limit,
    ]);
  }

  /** One stored response as the list shows it, if the principal may see it. */
  async one(principal: Principal, id: string): Promise<ResponseListRow | null> {
    const [row] = await this.sql.query<ResponseListRow>(SQL.one, [
      id,
      principal.admin ? null : principal.keyId,
    ]);
    return row ?? null;
  }

  /** The owners and statuses of these stored responses (ids of others are left out). */
  async ownership(ids: readonly string[]): Promise<ResponseOwnership[]> {
    if (ids.length === 0) return [];
    return this.sql.query<ResponseOwnership>(SQL.ownership, [ids]);
  }

  /** Every API key, without secrets or hashes (for an admin's filter). */
  async keys(): Promise<ApiKeyListing[]> {
    return this.sql.query<ApiKeyListing>(SQL.keys);
  }
}
