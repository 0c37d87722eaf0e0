import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { LIVENESS_LOCK_HELD } from './liveness-session';
import { Sql, statement } from './sql';
import { leaseHeldBy } from './step-lease';
import { liveResponse } from './live-responses';

// What recovery reads and writes: leases of running steps, and the work of live responses
// that nobody is doing (its owner died, its job was lost with Redis, its next decision was
// never made). Every query starts from the responses that are still running (an index on
// status), so its cost follows the live work, not the history.

/** Advisory lock key of the sweeper: one worker sweeps at a time. */
const SWEEPER_LOCK = 72_707_370;

/** Rows one sweep handles of each kind; the next sweep takes the rest. */
const SWEEP_LIMIT = 500;

/**
 * Scope `sc` of live response `r` waits for a decision nobody is making: nothing in it is
 * pending or running, and it has not ended (a child scope's agent step still runs).
 */
export const STALLED_SCOPE = `${liveResponse('r')}
        AND NOT EXISTS (SELECT 1 FROM steps s
                         WHERE s.response_id = sc.response_id AND s.scope_id = sc.id
                           AND s.status IN ('pending', 'running'))
        AND (sc.parent_step_id IS NULL
             OR EXISTS (SELECT 1 FROM steps p
                         WHERE p.response_id = sc.response_id AND p.id = sc.parent_step_id
                           AND p.status = 'running'))`;

const SQL = {
  renew: statement(
    'renew-leases',
    `UPDATE steps s SET lease_expires_at = now() + $3 * interval '1 millisecond'
       FROM unnest($1::text[], $4::text[]) AS held(response_id, id)
      WHERE s.response_id = held.response_id AND s.id = held.id AND ${leaseHeldBy('s', '$2')}
        AND s.status = 'running' AND s.lease_expires_at IS NOT NULL`,
  ),
  // Written by the attempt that runs the step: claimed, or a new response's first model call
  // run before its claim (first-step.ts), which keeps the backoff when it claims the step.
  backoff: statement(
    'step-backoff',
    `UPDATE steps SET backoff = $3::jsonb
      WHERE response_id = $4 AND id = $1
        AND (status = 'running' AND attempt = $2 OR status = 'pending' AND attempt = $2 - 1)`,
  ),
  release: statement(
    'release-lease',
    `UPDATE steps SET lease_expires_at = now(), leased = NULL
      WHERE response_id = $3 AND id = $1 AND attempt = $2 AND status = 'running'`,
  ),
  // Model and tool steps whose owner stopped renewing, and pending steps whose job has not
  // been taken for a while (lost, or still waiting for a slot).
  idleSteps: statement(
    'idle-steps',
    `SELECT s.id, s.response_id AS "responseId", s.status::text AS status,
            s.dispatched_at IS NOT NULL AS dispatched
       FROM responses r JOIN steps s ON s.response_id = r.id
      WHERE ${liveResponse('r')}
        AND ((s.status = 'running' AND s.lease_expires_at < now())
          OR (s.status = 'pending'
              AND coalesce(s.dispatched_at, s.created_at) < now() - $1 * interval '1 millisecond'))
      LIMIT ${SWEEP_LIMIT}`,
  ),
  // Scopes with nothing pending or running whose next decision was never made: a new
  // response whose job was lost, a round whose last step was recorded by a worker that died
  // before deciding, a sub-agent that ended without its agent step being recorded.
  stalledScopes: statement(
    'stalled-scopes',
    `SELECT sc.id, sc.response_id AS "responseId"
       FROM responses r JOIN scopes sc ON sc.response_id = r.id
      WHERE ${STALLED_SCOPE}
        AND coalesce((SELECT max(s.completed_at) FROM steps s
                       WHERE s.response_id = sc.response_id AND s.scope_id = sc.id),
                     sc.created_at) < now() - $1 * interval '1 millisecond'
      LIMIT ${SWEEP_LIMIT}`,
  ),
  // Registered workers whose liveness lock is free: their session, and so the worker, is gone.
  // A few rows and one read of pg_locks, cheap enough to run several times a second.
  deadWorkers: statement(
    'dead-workers',
    `SELECT w.id FROM workers w WHERE NOT ${LIVENESS_LOCK_HELD('w')}`,
  ),
  // The running steps of those workers, given up so that a claim takes them at once (the
  // claim bumps the attempt, fencing out anything the dead worker might still write); the
  // stalled scopes whose last step one of them finished (it died after recording the step,
  // before deciding what follows); and the workers' rows, gone with them. The lock is checked
  // again under the row locks, and concurrent watchers skip rows another one holds: each death
  // is handled once.
  takeOver: statement(
    'take-over-dead',
    `WITH dead AS (
       SELECT w.id FROM workers w
        WHERE w.id = ANY($1::text[]) AND NOT ${LIVENESS_LOCK_HELD('w')}
          FOR UPDATE SKIP LOCKED),
     taken AS (
       UPDATE steps s SET leased = NULL, lease_expires_at = now() - interval '1 second'
         FROM responses r, dead
        WHERE ${liveResponse('r')} AND s.response_id = r.id
          AND s.status = 'running' AND ${leaseHeldBy('s', 'dead.id')}
       RETURNING s.id AS "stepId", s.response_id AS "responseId", dead.id AS "workerId"),
     stalled AS (
       SELECT sc.id AS "scopeId", sc.response_id AS "responseId"
         FROM responses r JOIN scopes sc ON sc.response_id = r.id
        WHERE ${STALLED_SCOPE}
          AND (SELECT s.executed_by FROM steps s
                WHERE s.response_id = sc.response_id AND s.scope_id = sc.id
                  AND s.completed_at IS NOT NULL
                ORDER BY s.completed_at DESC LIMIT 1) IN (SELECT id FROM dead)),
     gone AS (DELETE FROM workers WHERE id IN (SELECT id FROM dead) RETURNING id)
     SELECT (SELECT coalesce(json_agg(gone.id), '[]') FROM gone) AS workers,
            (SELECT coalesce(json_agg(taken), '[]') FROM taken) AS steps,
            (SELECT coalesce(json_agg(stalled), '[]') FROM stalled) AS scopes`,
  ),
  // An operator's requeue of chosen responses: the sweeper's conditions without its grace
  // periods (the operator says the work is idle now). Running steps of workers whose liveness
  // session is gone are given up first, as the watch gives them up, so the claims that follow
  // take them at once; steps held by a live worker under a valid lease are left alone.
  expireDeadOwners: statement(
    'admin-expire-dead-owners',
    `UPDATE steps s SET leased = NULL, lease_expires_at = now() - interval '1 second'
       FROM responses r, workers w
      WHERE r.id = ANY($1::text[]) AND r.status IN ('queued', 'in_progress')
        AND s.response_id = r.id AND s.status = 'running' AND ${leaseHeldBy('s', 'w.id')}
        AND NOT ${LIVENESS_LOCK_HELD('w')}`,
  ),
  idleStepsOf: statement(
    'admin-idle-steps',
    `SELECT s.id, s.response_id AS "responseId", s.status::text AS status,
            s.dispatched_at IS NOT NULL AS dispatched
       FROM responses r JOIN steps s ON s.response_id = r.id
      WHERE r.id = ANY($1::text[]) AND r.status IN ('queued', 'in_progress')
        AND ((s.status = 'running' AND s.lease_expires_at < now()) OR s.status = 'pending')`,
  ),
  stalledScopesOf: statement(
    'admin-stalled-scopes',
    `SELECT sc.id, sc.response_id AS "responseId"
       FROM responses r JOIN scopes sc ON sc.response_id = r.id
      WHERE r.id = ANY($1::text[]) AND ${STALLED_SCOPE}`,
  ),
  // What recovery did, for the operations view; rows older than a day go as new ones come.
  recordRun: statement(
    'record-recovery-run',
    `WITH old AS (DELETE FROM recovery_runs WHERE ran_at < now() - interval '1 day')
     INSERT INTO recovery_runs (kind, worker_id, steps, scopes) VALUES ($1, $2, $3, $4)`,
  ),
  // Streamed responses that ended without their terminal event (the writer died between the
  // two): their lease says by when the log should have been closed.
  unclosedLogs: statement(
    'unclosed-logs',
    `SELECT id FROM responses
      WHERE status IN ('completed', 'failed', 'incomplete', 'cancelled')
        AND lease_expires_at < now() - $1 * interval '1 millisecond'
      LIMIT ${SWEEP_LIMIT}`,
  ),
};

/** A model call between two tries: until when it waits, and why. */
export interface StepBackoff {
  until: string;
  model: string;
  attempt: number;
  code: string;
  message: string;
}

export interface IdleStep {
  id: string;
  responseId: string;
  status: 'pending' | 'running';
  dispatched: boolean;
}

export interface StalledScope {
  id: string;
  responseId: string;
}

/** Running steps taken from workers that died, to queue again. */
export interface TakenOver {
  /** The dead workers whose registrations were removed. */
  workers: string[];
  steps: { stepId: string; responseId: string; workerId: string }[];
  /** Scopes whose next decision a dead worker was to make (it finished their last step). */
  scopes: { scopeId: string; responseId: string }[];
}

/** What one sweep found, all of it safe to act on twice. */
export interface SweepFindings {
  steps: IdleStep[];
  scopes: StalledScope[];
  unclosedLogs: string[];
}

/** Who recovered work: the sweeper, the watch for dead workers, or an operator. */
export type RecoveryKind = 'sweep' | 'takeover' | 'admin';

/** A step is found by its response and its id (the steps' primary key). */
export interface HeldStep {
  responseId: string;
  stepId: string;
}

@Injectable()
export class RecoveryRepository {
  constructor(private readonly sql: Sql) {}

  /** Extends the leases `owner` holds on these running steps. */
  async renewLeases(steps: readonly HeldStep[], owner: string, leaseMs: number): Promise<void> {
    if (steps.length === 0) return;
    await this.sql.query(SQL.renew, [
      steps.map((step) => step.responseId),
      owner,
      leaseMs,
      steps.map((step) => step.stepId),
    ]);
  }

  /** Says that a running model call waits out an upstream failure until `backoff.until`. */
  async recordBackoff(
    responseId: string,
    stepId: string,
    attempt: number,
    backoff: StepBackoff,
  ): Promise<void> {
    await this.sql.query(SQL.backoff, [stepId, attempt, JSON.stringify(backoff), responseId]);
  }

  /** Gives a running step up for another worker to take at once (a worker shutting down). */
  async releaseLease(responseId: string, stepId: string, attempt: number): Promise<void> {
    await this.sql.query(SQL.release, [stepId, attempt, responseId]);
  }

  /**
   * Runs `work` with what needs recovering, unless another process is sweeping (then null).
   * The lock is held until `work` is done, so sweeps never overlap.
   */
  async sweep<T>(graceMs: number, work: (found: SweepFindings) => Promise<T>): Promise<T | null> {
    return this.sql.transaction(async (client) => {
      const [{ locked }] = (
        await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [
          SWEEPER_LOCK,
        ])
      ).rows;
      if (!locked) return null;
      const found = await this.find(client, graceMs);
      return work(found);
    });
  }

  /**
   * Takes the running steps of workers whose liveness session is gone (see LivenessSession):
   * their leases end now, so that a claim takes them at once. The caller queues them after
   * this commits (a claim that ran before would find the lease still valid and do nothing);
   * should that fail, the sweep finds them by their ended leases. Null when no registered
   * worker is dead (the common case: one cheap read).
   */
  async takeOverFromDead(): Promise<TakenOver | null> {
    const dead = await this.sql.query<{ id: string }>(SQL.deadWorkers);
    if (dead.length === 0) return null;
    const [row] = await this.sql.query<TakenOver>(SQL.takeOver, [dead.map((worker) => worker.id)]);
    return row;
  }

  /**
   * The work of these live responses that nobody is doing, found and handed to `work` as a
   * sweep finds it (steps whose lease ran out or whose worker died, pending steps, scopes
   * waiting for a decision), but at once, with no grace period: an operator's requeue. It
   * waits for a sweep in progress to end, so the two never queue the same work together.
   * Whatever `work` queues is safe to run twice: a claim bumps the step's attempt, fencing
   * out any late result, and recording a decision twice finds the round already there.
   */
  async recoverResponses<T>(
    responseIds: readonly string[],
    work: (found: SweepFindings) => Promise<T>,
  ): Promise<T> {
    const ids = [...responseIds];
    // Committed before anything is queued: a claim that ran first would find the dead
    // worker's lease still valid and do nothing.
    await this.sql.query(SQL.expireDeadOwners, [ids]);
    return this.sql.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SWEEPER_LOCK]);
      const steps = (await client.query<IdleStep>({ ...SQL.idleStepsOf, values: [ids] })).rows;
      const scopes = (await client.query<StalledScope>({ ...SQL.stalledScopesOf, values: [ids] }))
        .rows;
      return work({ steps, scopes, unclosedLogs: [] });
    });
  }

  /** Notes what a recovery did (also when it found nothing), for the operations view. */
  async recordRun(
    kind: RecoveryKind,
    workerId: string | null,
    counts: { steps: number; scopes: number },
  ): Promise<void> {
    await this.sql.query(SQL.recordRun, [kind, workerId, counts.steps, counts.scopes]);
  }

  private async find(client: PoolClient, graceMs: number): Promise<SweepFindings> {
    const [steps, scopes, logs] = [
      (await client.query<IdleStep>({ ...SQL.idleSteps, values: [graceMs] })).rows,
      (await client.query<StalledScope>({ ...SQL.stalledScopes, values: [graceMs] })).rows,
      (await client.query<{ id: string }>({ ...SQL.unclosedLogs, values: [graceMs] })).rows,
    ];
    return { steps, scopes, unclosedLogs: logs.map((row) => row.id) };
  }
}
