import { Injectable } from '@nestjs/common';
import type { AwaitingCall } from '@ratchet/core';
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
}
