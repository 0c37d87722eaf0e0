import { Injectable } from '@nestjs/common';
import type { StepApproval, StepTruncation, Usage } from '@ratchet/core';
import type { StepBackoff } from './recovery.repository';
import { Sql, statement } from './sql';
import { leaseOwnerOf } from './step-lease';
import { usageJson } from './usage-sql';

/** A step as the progress view shows it: where it is, who runs it, until when. */
export interface StepProgress {
  id: string;
  scope_id: string;
  depth: number;
  round: number;
  index: number;
  kind: 'model_call' | 'tool_call' | 'agent_call';
  status: 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'awaiting_approval';
  name: string | null;
  call_id: string | null;
  attempt: number;
  worker: string | null;
  lease_expires_at: string | null;
  dispatched_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  error: { code: string; message: string } | null;
  /** The step's usage; `estimated` when the call was cut short and its tokens estimated. */
  usage: Usage | null;
  /** The last time this model call waited out an upstream failure. */
  backoff: StepBackoff | null;
  /**
   * A call that asked for a human's approval: its request id, when it asked and until when,
   * and the decision (who decided, by API key id, and when) once there is one.
   */
  approval: StepApproval | null;
  /** The step of an earlier response this one continues (a paused tree adopted). */
  adopted_from: string | null;
  /** A model call whose input `truncation: "auto"` shortened: what it left out. */
  truncation: {
    dropped_item_ids: string[];
    estimated_input_tokens: number;
    context_window: number;
  } | null;
}

const SQL = {
  steps: statement(
    'response-progress',
    `SELECT s.id, s.scope_id, sc.depth, s.round, s.index, s.kind::text AS kind,
            s.status::text AS status, s.name, s.call_id, s.attempt,
            ${leaseOwnerOf('s')} AS worker,
            s.lease_expires_at, s.dispatched_at, s.started_at, s.completed_at, s.error,
            ${usageJson('s', { estimated: true })} AS usage,
            s.backoff, s.result -> 'truncation' AS truncation, s.approval, s.adopted_from
       FROM steps s JOIN scopes sc ON sc.id = s.scope_id
      WHERE s.response_id = $1
      ORDER BY s.created_at, sc.depth, s.round, s.index`,
  ),
};

/** Reads what a response's steps are doing, for people and tools watching it. */
@Injectable()
export class ProgressRepository {
  constructor(private readonly sql: Sql) {}

  async steps(responseId: string): Promise<StepProgress[]> {
    const rows = await this.sql.query<
      Omit<
        StepProgress,
        'lease_expires_at' | 'dispatched_at' | 'started_at' | 'completed_at' | 'truncation'
      > & {
        lease_expires_at: Date | null;
        dispatched_at: Date | null;
        started_at: Date | null;
        completed_at: Date | null;
        truncation: StepTruncation | null;
      }
    >(SQL.steps, [responseId]);
    const iso = (date: Date | null): string | null => date?.toISOString() ?? null;
    return rows.map((row) => ({
      ...row,
      truncation: row.truncation && {
        dropped_item_ids: row.truncation.droppedItemIds,
        estimated_input_tokens: row.truncation.estimatedInputTokens,
        context_window: row.truncation.contextWindow,
      },
      lease_expires_at: iso(row.lease_expires_at),
      dispatched_at: iso(row.dispatched_at),
      started_at: iso(row.started_at),
      completed_at: iso(row.completed_at),
    }));
  }
}
