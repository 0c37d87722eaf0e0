import { Injectable } from '@nestjs/common';
import { assembleResponse, RatchetError, type ResponseObject } from '@ratchet/core';
import {
  ProgressRepository,
  ResponseListRepository,
  ResponsesRepository,
  StepDetailsRepository,
  type ApiKeyListing,
  type Principal,
  type ResponseListFilter,
  type ResponseListRow,
  type ScopeDetail,
  type StepDetail,
} from '@ratchet/store';
import { progressView } from '../responses/progress';
import { encodeCursor } from './response-list.query';
import { waitingSummary } from './waiting-summary';

/** A response as a row of the console's list. */
export interface ResponseSummary {
  id: string;
  object: 'response.summary';
  status: ResponseListRow['status'];
  model: string;
  background: boolean;
  stream: boolean;
  metadata: Record<string, string>;
  usage: ResponseListRow['usage'];
  error_code: string | null;
  step_count: number;
  api_key: { id: string; name: string };
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface ResponseSummaryPage {
  object: 'list';
  data: ResponseSummary[];
  has_more: boolean;
  /** Pass as `after` for the next (older) page; null on the last page. */
  next_cursor: string | null;
}

/** GET /v1/console/responses/{id}: the response, its whole tree, and what it waits for. */
export interface ResponseDetail {
  object: 'response.detail';
  summary: ResponseSummary;
  response: ResponseObject;
  scopes: ScopeDetail[];
  steps: StepDetail[];
  /** Step by step, as GET /v1/responses/{id}/steps says it. */
  waiting_for: string[];
  /** The same, grouped into a few lines. */
  waiting_summary: string[];
}

/** The console's reads; every one is scoped to what the caller's key may see. */
@Injectable()
export class ConsoleService {
  constructor(
    private readonly list: ResponseListRepository,
    private readonly responses: ResponsesRepository,
    private readonly details: StepDetailsRepository,
    private readonly progress: ProgressRepository,
  ) {}

  async responsesPage(
    principal: Principal,
    filter: ResponseListFilter,
  ): Promise<ResponseSummaryPage> {
    // One row more than asked tells whether another page follows.
    const rows = await this.list.list(principal, { ...filter, limit: filter.limit + 1 });
    const page = rows.slice(0, filter.limit);
    const last = page.at(-1);
    const hasMore = rows.length > filter.limit;
    return {
      object: 'list',
      data: page.map(summaryOf),
      has_more: hasMore,
      next_cursor: hasMore && last ? encodeCursor(last.created_at, last.id) : null,
    };
  }

  async responseDetail(principal: Principal, id: string): Promise<ResponseDetail> {
    const [row, record] = await Promise.all([
      this.list.one(principal, id),
      this.responses.find(id, principal),
    ]);
    if (!row || !record || record.request.store === false) throw RatchetError.responseNotFound(id);
    const [tree, progress] = await Promise.all([this.details.tree(id), this.progress.steps(id)]);
    const now = new Date();
    return {
      object: 'response.detail',
      summary: summaryOf(row),
      response: assembleResponse(record),
      scopes: tree.scopes,
      steps: tree.steps,
      waiting_for: progressView(id, record.status, progress, now).waiting_for,
      waiting_summary: waitingSummary(record.status, tree.steps, now),
    };
  }

  async keys(principal: Principal): Promise<{ object: 'list'; data: ApiKeyListing[] }> {
    requireAdmin(principal);
    return { object: 'list', data: await this.list.keys() };
  }
}

/** Refuses tenant keys where only an operator may look. */
export function requireAdmin(principal: Principal): void {
  if (!principal.admin) {
    throw new RatchetError('unauthorized', 'This needs the admin key.', {
      code: 'admin_key_required',
    });
  }
}

function summaryOf(row: ResponseListRow): ResponseSummary {
  return {
    id: row.id,
    object: 'response.summary',
    status: row.status,
    model: row.model,
    background: row.background,
    stream: row.stream,
    metadata: row.metadata,
    usage: row.usage,
    error_code: row.error_code,
    step_count: row.step_count,
    api_key: { id: row.owner_id, name: row.owner_name },
    created_at: row.created_at.toISOString(),
    started_at: row.started_at?.toISOString() ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
  };
}
