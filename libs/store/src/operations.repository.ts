import { Injectable } from '@nestjs/common';
import { LIVENESS_LOCK_HELD } from './liveness-session';
import type { RecoveryKind } from './recovery.repository';
import { liveResponse } from './live-responses';
import { Sql, statement } from './sql';

// What the operations view reads (GET /v1/admin/overview, and the workers an operator may
// drain): the live workers and what they run, responses by status, the work recovery has to
// do and what it did, and how upstream model calls fare. Every query starts from live
// responses (the partial index on completed_at), from recent steps or runs, or from the workers: never
// from the whole history.

export type DrainState = 'active' | 'drain_requested' | 'draining' | 'drained';

export interface WorkerView {
  id: string;
  host: string;
  pid: number;
  started_at: string;
  /** Steps running under this worker's claim now. */
  in_flight_steps: number;
  /** The same, by step kind (`model_call`, `tool_call`, `agent_call`). */
  in_flight_by_kind: Record<string, number>;
  drain: DrainState;
  drain_requested_at: string | null;
  drain_started_at: string | null;
  drained_at: string | null;
}

export interface UpstreamErrors {
  model: string;
  /** Model calls that ended in the window, and of those, the ones that failed. */
  calls: number;
  failed: number;
  error_rate: number;
  /** Calls that waited out at least one upstream failure before their end. */
  retried: number;
  errors_by_code: Record<string, number>;
}

/** One run of recovery that queued work again. */
export interface RecoveryRun {
  kind: RecoveryKind;
  /** The worker that ran it (null: an operator's requeue, run by the API). */
  worker_id: string | null;
  ran_at: string;
  steps: number;
  scopes: number;
}

export interface RecoveryActivity {
  last_sweep_at: string | null;
  last_takeover_at: string | null;
  last_admin_requeue_at: string | null;
  /** Work queued again in the window, by who found it. */
  requeued: Record<RecoveryKind, { steps: number; scopes: number; runs: number }>;
  /** The latest runs that queued anything again (at most 10, newest first, any age). */
  recent_runs: RecoveryRun[];
  /** What recovery has to do now. */
  backlog: {
    /** Running steps whose lease ran out: the next sweep takes them over. */
    expired_leases: number;
    /** Pending steps not handed to the queue yet (waiting for a concurrency slot). */
    undispatched_steps: number;
    /** Steps that ended in the window after more than one attempt (taken over, or retried). */
    retried_steps: number;
  };
}

const LIVE = liveResponse('r');

const RECENT_RUNS = 10;

const SQL = {
  // Live workers only: a registration whose lock is free is a worker that died (the watch
  // removes it shortly).
  workers: statement(
    'operations-workers',
    `SELECT w.id, w.host, w.pid, w.started_at, w.drain_requested_at, w.drain_started_at,
            w.drained_at, coalesce(run.total, 0)::int AS in_flight_steps,
            coalesce(run.by_kind, '{}'::json) AS in_flight_by_kind
       FROM workers w
       LEFT JOIN (
         SELECT owner, sum(n)::int AS total, json_object_agg(kind, n) AS by_kind
           FROM (SELECT s.executed_by AS owner, s.kind::text AS kind, count(*)::int AS n
                   FROM responses r JOIN steps s ON s.response_id = r.id
                  WHERE ${LIVE} AND s.status = 'running' AND s.leased
                  GROUP BY s.executed_by, s.kind) k
          GROUP BY owner) run ON run.owner = w.id
      WHERE ${LIVENESS_LOCK_HELD('w')}
      ORDER BY w.started_at, w.id`,
  ),
  // Every live response (the partial index on completed_at), and those created within the
  // window that ended (the index on created_at): never a scan of the whole history.
  statusCounts: statement(
    'operations-status-counts',
    `SELECT status::text AS status, count(*)::int AS count FROM (
       SELECT r.status FROM responses r WHERE ${LIVE}
       UNION ALL
       SELECT r.status FROM responses r
        WHERE r.created_at > now() - $1 * interval '1 second' AND r.completed_at IS NOT NULL) x
      GROUP BY status`,
  ),
  // Model calls that ended within the window, by the model their scope runs.
  upstreamErrors: statement(
    'operations-upstream-errors',
    `WITH calls AS (
       SELECT sc.model, s.status, s.backoff IS NOT NULL AS retried,
              coalesce(s.error ->> 'code', 'unknown') AS code
         FROM steps s JOIN scopes sc ON sc.id = s.scope_id
        WHERE s.kind = 'model_call' AND s.status IN ('completed', 'failed')
          AND s.completed_at > now() - $1 * interval '1 second'),
     codes AS (
       SELECT model, code, count(*)::int AS n FROM calls WHERE status = 'failed'
        GROUP BY model, code)
     SELECT c.model, count(*)::int AS calls,
            (count(*) FILTER (WHERE c.status = 'failed'))::int AS failed,
            (count(*) FILTER (WHERE c.retried))::int AS retried,
            coalesce((SELECT json_object_agg(codes.code, codes.n) FROM codes
                       WHERE codes.model = c.model), '{}') AS errors_by_code
       FROM calls c
      GROUP BY c.model
      ORDER BY c.model`,
  ),
  recovery: statement(
    'operations-recovery-activity',
    `SELECT kind, max(ran_at) AS last_at,
            coalesce(sum(steps) FILTER (WHERE ran_at > now() - $1 * interval '1 second'), 0)::int
              AS steps,
            coalesce(sum(scopes) FILTER (WHERE ran_at > now() - $1 * interval '1 second'), 0)::int
              AS scopes,
            (count(*) FILTER (WHERE ran_at > now() - $1 * interval '1 second'
                                AND steps + scopes > 0))::int AS runs
       FROM recovery_runs GROUP BY kind`,
  ),
  recentRuns: statement(
    'operations-recent-runs',
    `SELECT kind, worker_id, ran_at, steps, scopes FROM recovery_runs
      WHERE steps + scopes > 0
      ORDER BY ran_at DESC, id DESC
      LIMIT ${RECENT_RUNS}`,
  ),
  backlog: statement(
    'operations-backlog',
    `SELECT (SELECT count(*)::int FROM responses r JOIN steps s ON s.response_id = r.id
              WHERE ${LIVE} AND s.status = 'running' AND s.lease_expires_at < now())
              AS expired_leases,
            (SELECT count(*)::int FROM responses r JOIN steps s ON s.response_id = r.id
              WHERE ${LIVE} AND s.status = 'pending' AND s.dispatched_at IS NULL)
              AS undispatched_steps,
            (SELECT count(*)::int FROM steps s
              WHERE s.completed_at > now() - $1 * interval '1 second' AND s.attempt > 1)
              AS retried_steps`,
  ),
};

const iso = (value: Date | null): string | null => (value === null ? null : value.toISOString());

/** Reads the state of the deployment's workers, recovery and upstreams. */
@Injectable()
export class OperationsRepository {
  constructor(private readonly sql: Sql) {}

  async workers(): Promise<WorkerView[]> {
    const rows = await this.sql.query<{
      id: string;
      host: string;
      pid: number;
      started_at: Date;
      drain_requested_at: Date | null;
      drain_started_at: Date | null;
      drained_at: Date | null;
      in_flight_steps: number;
      in_flight_by_kind: Record<string, number>;
    }>(SQL.workers);
    return rows.map((row) => ({
      id: row.id,
      host: row.host,
      pid: row.pid,
      started_at: row.started_at.toISOString(),
      in_flight_steps: row.in_flight_steps,
      in_flight_by_kind: row.in_flight_by_kind,
      drain: drainState(row),
      drain_requested_at: iso(row.drain_requested_at),
      drain_started_at: iso(row.drain_started_at),
      drained_at: iso(row.drained_at),
    }));
  }

  /** Live responses by status, and those created within the window that have ended. */
  async statusCounts(windowSeconds: number): Promise<Record<string, number>> {
    const rows = await this.sql.query<{ status: string; count: number }>(SQL.statusCounts, [
      windowSeconds,
    ]);
    const counts: Record<string, number> = {
      queued: 0,
      in_progress: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      incomplete: 0,
    };
    for (const row of rows) counts[row.status] = row.count;
    return counts;
  }

  /** Model calls that ended in the last `windowSeconds`, by model: how many failed, and why. */
  async upstreamErrors(windowSeconds: number): Promise<UpstreamErrors[]> {
    const rows = await this.sql.query<{
      model: string;
      calls: number;
      failed: number;
      retried: number;
      errors_by_code: Record<string, number>;
    }>(SQL.upstreamErrors, [windowSeconds]);
    return rows.map((row) => ({
      model: row.model,
      calls: row.calls,
      failed: row.failed,
      error_rate: row.calls === 0 ? 0 : row.failed / row.calls,
      retried: row.retried,
      errors_by_code: row.errors_by_code,
    }));
  }

  /**
   * When recovery last ran, what it queued again in the last `windowSeconds`, its latest
   * runs that found something, and what it has to do now.
   */
  async recoveryActivity(windowSeconds: number): Promise<RecoveryActivity> {
    const [rows, runs, [backlog]] = await Promise.all([
      this.sql.query<{
        kind: string;
        last_at: Date | null;
        steps: number;
        scopes: number;
        runs: number;
      }>(SQL.recovery, [windowSeconds]),
      this.sql.query<{
        kind: RecoveryKind;
        worker_id: string | null;
        ran_at: Date;
        steps: number;
        scopes: number;
      }>(SQL.recentRuns),
      this.sql.query<RecoveryActivity['backlog']>(SQL.backlog, [windowSeconds]),
    ]);
    const of = (kind: string) => rows.find((row) => row.kind === kind);
    const counts = (kind: string) => {
      const row = of(kind);
      return { steps: row?.steps ?? 0, scopes: row?.scopes ?? 0, runs: row?.runs ?? 0 };
    };
    return {
      last_sweep_at: iso(of('sweep')?.last_at ?? null),
      last_takeover_at: iso(of('takeover')?.last_at ?? null),
      last_admin_requeue_at: iso(of('admin')?.last_at ?? null),
      requeued: { sweep: counts('sweep'), takeover: counts('takeover'), admin: counts('admin') },
      recent_runs: runs.map((run) => ({ ...run, ran_at: run.ran_at.toISOString() })),
      backlog,
    };
  }
}

function drainState(row: {
  drain_requested_at: Date | null;
  drain_started_at: Date | null;
  drained_at: Date | null;
}): DrainState {
  if (row.drained_at) return 'drained';
  if (row.drain_started_at) return 'draining';
  if (row.drain_requested_at) return 'drain_requested';
  return 'active';
}
