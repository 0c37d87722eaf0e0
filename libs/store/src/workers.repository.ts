import { Injectable } from '@nestjs/common';
import { Sql, statement } from './sql';

// A worker's own view of its registration (see LivenessSession): whether an operator asked it
// to drain, and its answers as it does.

const SQL = {
  drainRequested: statement(
    'worker-drain-requested',
    `SELECT drain_requested_at IS NOT NULL AS requested FROM workers WHERE id = $1`,
  ),
  // Draining started: the request is set too, for a worker that drains under a new session.
  drainStarted: statement(
    'worker-drain-started',
    `UPDATE workers SET drain_requested_at = coalesce(drain_requested_at, now()),
                        drain_started_at = coalesce(drain_started_at, now())
      WHERE id = $1`,
  ),
  drained: statement(
    'worker-drained',
    `UPDATE workers SET drain_requested_at = coalesce(drain_requested_at, now()),
                        drain_started_at = coalesce(drain_started_at, now()),
                        drained_at = coalesce(drained_at, now())
      WHERE id = $1`,
  ),
};

@Injectable()
export class WorkersRepository {
  constructor(private readonly sql: Sql) {}

  /** Whether an operator asked the worker `workerId` to drain. */
  async drainRequested(workerId: string): Promise<boolean> {
    const [row] = await this.sql.query<{ requested: boolean }>(SQL.drainRequested, [workerId]);
    return row?.requested ?? false;
  }

  /** The worker takes no new jobs from now on. */
  async markDrainStarted(workerId: string): Promise<void> {
    await this.sql.query(SQL.drainStarted, [workerId]);
  }

  /** The worker's running jobs have all finished. */
  async markDrained(workerId: string): Promise<void> {
    await this.sql.query(SQL.drained, [workerId]);
  }
}
