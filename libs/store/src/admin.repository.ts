import { Injectable } from '@nestjs/common';
import { LIVENESS_LOCK_HELD } from './liveness-session';
import { STALLED_SCOPE } from './recovery.repository';
import { Sql, statement } from './sql';
import { leaseHeldBy, leaseOwnerOf } from './step-lease';
import { liveResponse } from './live-responses';

// What operators read and change across tenants: responses that are not progressing and why,
// responses chosen by a filter, purges of old terminal responses, the audit trail, and drain
// requests. Only the admin API calls these (the figures of the operations view are in
// OperationsRepository).

/** Why a live response is not progressing. */
export type StuckReason =
  /** A running step's worker has no liveness session any more (it died; nobody took over). */
  | 'worker_gone'
  /** A running step's lease ran out: its worker stopped renewing, or gave it up to nobody. */
  | 'lease_expired'
  /** A model call waits out an upstream failure until `until`. */
  | 'backing_off'
  /**
   * A step has waited for a worker (or a concurrency slot), or a queued response for its
   * first decision, longer than the idle threshold.
   */
  | 'queued_too_long'
  /** Nothing in a scope is pending or running, and its next decision was never made. */
  | 'scope_not_advanced';

export const STUCK_REASONS: readonly StuckReason[] = [
  'worker_gone',
  'lease_expired',
  'backing_off',
  'queued_too_long',
  'scope_not_advanced',
];

/** Which live responses an operator means; every field narrows, absent fields do not. */
export interface ResponseFilter {
  ids?: readonly string[];
  statuses?: readonly ('queued' | 'in_progress')[];
  model?: string;
  ownerId?: string;
  createdBefore?: Date;
  createdAfter?: Date;
  /** Only responses with at least one stuck reason (of these, when given). */
  stuck?: boolean;
  reasons?: readonly StuckReason[];
  /** How long a step may wait, or a scope stay undecided, before it counts as stuck. */
  idleSeconds: number;
  limit: number;
}

export interface StuckDetail {
  reason: StuckReason;
  step_id: string | null;
  scope_id: string | null;
  /** The worker the step was claimed by, if any. */
  worker: string | null;
  /** Since when (the lease's end, the wait's start, the last step's end), or until when (backing_off). */
  at: string | null;
}

export interface LiveResponse {
  id: string;
  status: 'queued' | 'in_progress';
  model: string;
  owner_id: string;
  created_at: string;
  reasons: StuckDetail[];
}

export interface AuditEntry {
  id: number;
  actor_key_id: string;
  actor_name: string;
  action: string;
  params: unknown;
  dry_run: boolean;
  affected_count: number;
  affected_ids: string[];
  created_at: string;
}

export interface NewAuditEntry {
  actorKeyId: string;
  action: string;
  params: unknown;
  dryRun: boolean;
  affectedCount: number;
  affectedIds: readonly string[];
}

/** Deleting more than this many responses at once is split over several calls (has_more). */
export const PURGE_MAX = 10_000;
/** Ids an audit row keeps of what an action touched (the count is always exact). */
export const AUDIT_MAX_IDS = 1_000;

const LIVE = liveResponse('r');

/** The live responses a filter names: `$1` ids, `$2` statuses, `$3` model, `$4` owner, `$5`/`$6` created before/after. */
const FILTERED = `${LIVE}
        AND ($1::text[] IS NULL OR r.id = ANY($1::text[]))
        AND ($2::text[] IS NULL OR r.status::text = ANY($2::text[]))
        AND ($3::text IS NULL OR r.model = $3)
        AND ($4::text IS NULL OR r.owner_id = $4)
        AND ($5::timestamptz IS NULL OR r.created_at < $5)
        AND ($6::timestamptz IS NULL OR r.created_at > $6)`;

/**
 * Each reason a live response of `live` is not progressing, one row per step or scope, with
 * `$7` the idle threshold in seconds. A backing-off step's lease is renewed, so it is not
 * also reported as expired. A queued response whose top scope has no step yet waits for its
 * first decision: it is queued too long, not a scope left behind.
 */
const REASONS = `
  SELECT s.response_id, 'worker_gone' AS reason, s.id AS step_id, s.scope_id,
         s.executed_by AS worker, s.lease_expires_at AS at
    FROM live JOIN steps s ON s.response_id = live.id
         JOIN workers w ON ${leaseHeldBy('s', 'w.id')}
   WHERE s.status = 'running' AND NOT ${LIVENESS_LOCK_HELD('w')}
  UNION ALL
  SELECT s.response_id, 'lease_expired', s.id, s.scope_id, ${leaseOwnerOf('s')}, s.lease_expires_at
    FROM live JOIN steps s ON s.response_id = live.id
   WHERE s.status = 'running' AND s.lease_expires_at < now()
     AND NOT EXISTS (SELECT 1 FROM workers w
                      WHERE ${leaseHeldBy('s', 'w.id')} AND NOT ${LIVENESS_LOCK_HELD('w')})
  UNION ALL
  SELECT s.response_id, 'backing_off', s.id, s.scope_id, ${leaseOwnerOf('s')},
         (s.backoff ->> 'until')::timestamptz
    FROM live JOIN steps s ON s.response_id = live.id
   WHERE s.status = 'running' AND s.backoff IS NOT NULL AND s.lease_expires_at >= now()
     AND (s.backoff ->> 'until')::timestamptz > now()
  UNION ALL
  SELECT s.response_id, 'queued_too_long', s.id, s.scope_id, NULL,
         coalesce(s.dispatched_at, s.created_at)
    FROM live JOIN steps s ON s.response_id = live.id
   WHERE s.status = 'pending'
     AND coalesce(s.dispatched_at, s.created_at) < now() - $7 * interval '1 second'
  UNION ALL
  SELECT sc.response_id,
         CASE WHEN r.status = 'queued' AND NOT EXISTS (SELECT 1 FROM steps s
                                                       WHERE s.response_id = sc.response_id
                                                         AND s.scope_id = sc.id)
              THEN 'queued_too_long' ELSE 'scope_not_advanced' END,
         NULL, sc.id, NULL, idle.since
    FROM live JOIN responses r ON r.id = live.id JOIN scopes sc ON sc.response_id = r.id,
         LATERAL (SELECT coalesce((SELECT max(s.completed_at) FROM steps s
                                    WHERE s.response_id = sc.response_id
                                      AND s.scope_id = sc.id), sc.created_at) AS since) idle
   WHERE ${STALLED_SCOPE} AND idle.since < now() - $7 * interval '1 second'`;

/** `$8` reasons to keep (null: all), `$9` whether only responses with a reason are wanted, `$10` limit. */
const SELECT_LIVE = `
  WITH live AS (
    SELECT r.id, r.status::text AS status, r.model, r.owner_id, r.created_at
      FROM responses r WHERE ${FILTERED}),
  reasons AS (${REASONS}),
  kept AS (
    SELECT * FROM reasons WHERE $8::text[] IS NULL OR reason = ANY($8::text[]))
  SELECT live.id, live.status, live.model, live.owner_id, live.created_at,
         coalesce((SELECT json_agg(json_build_object(
                     'reason', k.reason, 'step_id', k.step_id, 'scope_id', k.scope_id,
                     'worker', k.worker, 'at', k.at) ORDER BY k.at, k.reason)
                     FROM kept k WHERE k.response_id = live.id), '[]') AS reasons
    FROM live
   WHERE NOT $9::boolean OR EXISTS (SELECT 1 FROM kept k WHERE k.response_id = live.id)
   ORDER BY live.created_at, live.id
   LIMIT $10`;

const SQL = {
  live: statement('admin-live-responses', SELECT_LIVE),
  // Terminal responses that ended before the cutoff; their steps, scopes, events and items go
  // with them (a trigger on responses deletes them). The status is checked again by the DELETE itself, so a
  // response can never be purged while it runs.
  purgeable: statement(
    'admin-purgeable',
    `SELECT r.id FROM responses r
      WHERE r.status IN ('completed', 'failed', 'cancelled', 'incomplete')
        AND coalesce(r.completed_at, r.created_at) < now() - $1 * interval '1 second'
      ORDER BY coalesce(r.completed_at, r.created_at), r.id
      LIMIT $2`,
  ),
  purge: statement(
    'admin-purge',
    `DELETE FROM responses r
      WHERE r.id IN (SELECT p.id FROM responses p
                      WHERE p.status IN ('completed', 'failed', 'cancelled', 'incomplete')
                        AND coalesce(p.completed_at, p.created_at)
                            < now() - $1 * interval '1 second'
                      ORDER BY coalesce(p.completed_at, p.created_at), p.id
                      LIMIT $2
                      FOR UPDATE SKIP LOCKED)
        AND r.status IN ('completed', 'failed', 'cancelled', 'incomplete')
      RETURNING r.id`,
  ),
  recordAudit: statement(
    'admin-record-audit',
    `INSERT INTO admin_audit
       (actor_key_id, actor_name, action, params, dry_run, affected_count, affected_ids)
     SELECT $1, coalesce((SELECT name FROM api_keys WHERE id = $1), $1), $2, $3::jsonb, $4, $5,
            $6::jsonb
     RETURNING id`,
  ),
  audit: statement(
    'admin-audit',
    `SELECT id, actor_key_id, actor_name, action, params, dry_run, affected_count,
            affected_ids, created_at
       FROM admin_audit
      WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR action = $2)
      ORDER BY id DESC
      LIMIT $3`,
  ),
  requestDrain: statement(
    'admin-request-drain',
    `UPDATE workers w SET drain_requested_at = coalesce(w.drain_requested_at, now())
      WHERE w.id = $1 AND ${LIVENESS_LOCK_HELD('w')}
      RETURNING w.id`,
  ),
};

const iso = (value: Date | string | null): string | null =>
  value === null ? null : new Date(value).toISOString();

@Injectable()
export class AdminRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Live responses the filter names, oldest first, each with the reasons it is not
   * progressing (empty when it is). With `stuck`, only those with a reason.
   */
  async liveResponses(filter: ResponseFilter): Promise<LiveResponse[]> {
    const rows = await this.sql.query<{
      id: string;
      status: 'queued' | 'in_progress';
      model: string;
      owner_id: string;
      created_at: Date;
      reasons: StuckDetail[];
    }>(SQL.live, [
      filter.ids ? [...filter.ids] : null,
      filter.statuses ? [...filter.statuses] : null,
      filter.model ?? null,
      filter.ownerId ?? null,
      filter.createdBefore ?? null,
      filter.createdAfter ?? null,
      filter.idleSeconds,
      filter.reasons ? [...filter.reasons] : null,
      filter.stuck === true,
      filter.limit,
    ]);
    return rows.map((row) => ({
      ...row,
      created_at: row.created_at.toISOString(),
      reasons: row.reasons.map((reason) => ({ ...reason, at: iso(reason.at) })),
    }));
  }

  /**
   * Terminal responses that ended more than `olderThanSeconds` ago, oldest first, at most
   * `limit`: deleted with everything recorded for them, or only listed on a dry run.
   */
  async purge(olderThanSeconds: number, limit: number, dryRun: boolean): Promise<string[]> {
    const rows = await this.sql.query<{ id: string }>(dryRun ? SQL.purgeable : SQL.purge, [
      olderThanSeconds,
      limit,
    ]);
    return rows.map((row) => row.id);
  }

  async recordAudit(entry: NewAuditEntry): Promise<number> {
    const [row] = await this.sql.query<{ id: string }>(SQL.recordAudit, [
      entry.actorKeyId,
      entry.action,
      JSON.stringify(entry.params),
      entry.dryRun,
      entry.affectedCount,
      JSON.stringify(entry.affectedIds.slice(0, AUDIT_MAX_IDS)),
    ]);
    return Number(row.id);
  }

  /** Audit rows newest first, after the cursor `before` (an id), `limit` of them. */
  async audit(query: {
    before: number | null;
    action: string | null;
    limit: number;
  }): Promise<AuditEntry[]> {
    const rows = await this.sql.query<
      Omit<AuditEntry, 'id' | 'created_at'> & {
        id: string;
        created_at: Date;
      }
    >(SQL.audit, [query.before, query.action, query.limit]);
    return rows.map((row) => ({
      ...row,
      id: Number(row.id),
      created_at: row.created_at.toISOString(),
    }));
  }

  /** Asks a live worker to drain; false when no live worker has that id. */
  async requestDrain(workerId: string): Promise<boolean> {
    return (await this.sql.query(SQL.requestDrain, [workerId])).length > 0;
  }
}
