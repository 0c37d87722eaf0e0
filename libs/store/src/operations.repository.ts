import { Injectable } from '@nestjs/common';
import { LIVENESS_LOCK_HELD } from './liveness-session';
import { Sql, statement } from './sql';
import { liveResponse } from './live-responses';

// What an operator looks at: the workers and what they run, the work recovery would take
// over, and how upstream model calls fare. Every query starts from live responses (the index
// on status) or from recent ones (the index on created_at), never from the whole history.

export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  started_at: Date;
  /** Its liveness session still holds its lock. */
  alive: boolean;
  /** Steps it runs now. */
  running_steps: number;
  running_by_kind: Record<string, number>;
}

export interface RecoveryRow {
  /** Live responses. */
  live_responses: number;
  queued_responses: number;
  /** Running steps whose lease ran out: the next sweep takes them over. */
  expired_leases: number;
  /** Pending steps not handed to the queue yet (waiting for a concurrency slot). */
  undispatched_steps: number;
  /** Steps of recent responses that ran more than once (taken over, or retried). */
  retried_steps: number;
}

export interface UpstreamRow {
  model: string;
  calls: number;
  failed: number;
  /** Calls that waited out at least one upstream failure before their last try. */
  backed_off: number;
  /** Failures by error code. */
  codes: Record<string, number>;
}

const SQL = {
  workers: statement(
    'console-workers',
    `SELECT w.id, w.host, w.pid, w.started_at, ${LIVENESS_LOCK_HELD('w')} AS alive,
            coalesce(run.total, 0)::int AS running_steps,
            coalesce(run.by_kind, '{}'::json) AS running_by_kind
       FROM workers w
       LEFT JOIN (
         SELECT lease_owner, sum(n)::int AS total, json_object_agg(kind, n) AS by_kind
           FROM (SELECT s.lease_owner, s.kind::text AS kind, count(*)::int AS n
                   FROM responses r JOIN steps s ON s.response_id = r.id
                  WHERE ${liveResponse('r')} AND s.status = 'running'
                    AND s.lease_owner IS NOT NULL
                  GROUP BY s.lease_owner, s.kind) k
          GROUP BY lease_owner) run ON run.lease_owner = w.id
      ORDER BY w.started_at`,
  ),
  recovery: statement(
    'console-recovery',
    `SELECT (SELECT count(*)::int FROM responses r WHERE ${liveResponse('r')})
              AS live_responses,
            (SELECT count(*)::int FROM responses r
              WHERE ${liveResponse('r')} AND r.status = 'queued') AS queued_responses,
            (SELECT count(*)::int FROM responses r JOIN steps s ON s.response_id = r.id
              WHERE ${liveResponse('r')} AND s.status = 'running'
                AND s.lease_expires_at < now()) AS expired_leases,
            (SELECT count(*)::int FROM responses r JOIN steps s ON s.response_id = r.id
              WHERE ${liveResponse('r')} AND s.status = 'pending'
                AND s.dispatched_at IS NULL) AS undispatched_steps,
            (SELECT count(*)::int FROM responses r JOIN steps s ON s.response_id = r.id
              WHERE r.created_at >= $1 AND s.attempt > 1) AS retried_steps`,
  ),
  upstream: statement(
    'console-upstream',
    `SELECT coalesce(sc.model, r.model) AS model, count(*)::int AS calls,
            count(*) FILTER (WHERE s.status = 'failed')::int AS failed,
            count(*) FILTER (WHERE s.backoff IS NOT NULL)::int AS backed_off
       FROM responses r JOIN steps s ON s.response_id = r.id JOIN scopes sc ON sc.id = s.scope_id
      WHERE r.created_at >= $1 AND s.kind = 'model_call'
      GROUP BY 1 ORDER BY 2 DESC`,
  ),
  upstreamCodes: statement(
    'console-upstream-codes',
    `SELECT coalesce(sc.model, r.model) AS model, s.error ->> 'code' AS code,
            count(*)::int AS n
       FROM responses r JOIN steps s ON s.response_id = r.id JOIN scopes sc ON sc.id = s.scope_id
      WHERE r.created_at >= $1 AND s.kind = 'model_call' AND s.status = 'failed'
      GROUP BY 1, 2`,
  ),
};

/** Reads the state of the deployment's workers and upstreams, for the operations view. */
@Injectable()
export class OperationsRepository {
  constructor(private readonly sql: Sql) {}

  async workers(): Promise<WorkerRow[]> {
    return this.sql.query<WorkerRow>(SQL.workers);
  }

  /** What recovery has to do now, and how often steps of responses since `since` re-ran. */
  async recovery(since: Date): Promise<RecoveryRow> {
    const [row] = await this.sql.query<RecoveryRow>(SQL.recovery, [since]);
    return row;
  }

  /** Model calls of responses created since `since`, by model: how many, how many failed. */
  async upstream(since: Date): Promise<UpstreamRow[]> {
    const [calls, codes] = await Promise.all([
      this.sql.query<Omit<UpstreamRow, 'codes'>>(SQL.upstream, [since]),
      this.sql.query<{ model: string; code: string | null; n: number }>(SQL.upstreamCodes, [since]),
    ]);
    return calls.map((row) => ({
      model: row.model,
      calls: row.calls,
      failed: row.failed,
      backed_off: row.backed_off,
      codes: Object.fromEntries(
        codes
          .filter((code) => code.model === row.model)
          .map((code) => [code.code ?? 'unknown', code.n]),
      ),
    }));
  }
}
