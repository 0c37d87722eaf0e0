import { Injectable } from '@nestjs/common';
import { refusalOf, type AwaitingCall } from '@ratchet/core';
import { APPROVALS_SQL } from './approvals.sql';
import { Sql } from './sql';

/** Human approvals: which calls of a tree wait, and whether the tree is stuck on them. */
@Injectable()
export class ApprovalsRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * The calls the response's tree waits on when nothing else in it can progress (each with
   * the agent calls that lead to it); null while something can, or nothing waits.
   */
  async pausedOn(responseId: string): Promise<AwaitingCall[] | null> {
    const [row] = await this.sql.query<{ stuck: boolean; awaiting: AwaitingCall[] }>(
      APPROVALS_SQL.paused,
      [responseId],
    );
    return row?.stuck ? row.awaiting : null;
  }

  /**
   * Ends the requests that expired unanswered: in a live tree the call is refused (the
   * scopes whose round that completes are returned, to decide next); in a paused tree the
   * refusal is recorded for the response that adopts it.
   */
  async expire(): Promise<ExpiredApprovals> {
    const error = refusalOf({
      approve: false,
      reason: null,
      decided_by: null,
      decided_at: '',
      response_id: '',
      expired: true,
    });
    const [row] = await this.sql.query<ExpiredApprovals>(APPROVALS_SQL.expire, [
      JSON.stringify(error),
    ]);
    return row;
  }
}

/** What ending the expired approval requests did. */
export interface ExpiredApprovals {
  /** Scopes whose round the refused calls completed. */
  scopes: { scopeId: string; responseId: string }[];
  /** Calls of live trees refused. */
  expired: number;
  /** Calls of paused trees whose refusal was recorded. */
  recorded: number;
}
