import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { isTerminalStatus } from '@ratchet/core';
import { EventLog, ResponseBus } from '@ratchet/events';
import { JobQueue } from '@ratchet/queue';
import {
  ApprovalsRepository,
  RecoveryRepository,
  ResponsesRepository,
  type SweepFindings,
  type TakenOver,
} from '@ratchet/store';
import { leaseTakeovers, sweeperRequeues } from '@ratchet/telemetry';
import { EngineService } from './engine.service';
import { Liveness } from './liveness.service';

/**
 * Finds the work of live responses that nobody is doing and queues it again, from Postgres
 * alone. Every RATCHET_LIVENESS_CHECK_MS it watches for workers that died: the running steps
 * of a worker whose liveness session has ended (see Liveness), and the decisions it owed, are
 * queued again at once. Every
 * RATCHET_SWEEP_INTERVAL_MS it sweeps for the rest: steps whose owner stopped renewing its
 * lease (the safety net when a death goes unseen), steps whose job was lost (a Redis flush),
 * scopes whose next decision was never made, and logs of streamed responses that ended without
 * their terminal event. Every worker runs both; an advisory lock lets one sweep at a time,
 * and concurrent watches split the dead between them. Everything it queues is safe to run
 * twice.
 */
@Injectable()
export class Sweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(Sweeper.name);
  private readonly intervalMs: number;
  private readonly graceMs: number;
  private readonly checkMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private watching: Promise<void> | null = null;
  private sweeps = 0;

  constructor(
    config: AppConfig,
    private readonly recovery: RecoveryRepository,
    private readonly responses: ResponsesRepository,
    private readonly queue: JobQueue,
    private readonly engine: EngineService,
    private readonly log: EventLog,
    private readonly bus: ResponseBus,
    private readonly liveness: Liveness,
    private readonly approvals: ApprovalsRepository,
  ) {
    this.intervalMs = config.env.RATCHET_SWEEP_INTERVAL_MS;
    this.graceMs = config.env.RATCHET_SWEEP_GRACE_MS;
    this.checkMs = config.env.RATCHET_LIVENESS_CHECK_MS;
  }

  onApplicationBootstrap(): void {
    this.schedule();
    this.scheduleWatch();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.timer = null;
    this.watchTimer = null;
    await Promise.all([this.running, this.watching]);
  }

  private scheduleWatch(): void {
    const delay = this.checkMs * (0.75 + Math.random() / 2);
    this.watchTimer = setTimeout(() => {
      this.watching = this.watchOnce()
        .then(() => undefined)
        .catch((error: unknown) =>
          this.logger.warn(`watch for dead workers failed: ${String(error)}`),
        )
        .finally(() => {
          this.watching = null;
          if (this.watchTimer) this.scheduleWatch();
        });
    }, delay);
    this.watchTimer.unref();
  }

  /**
   * Queues again the running steps of workers whose liveness session has ended; null when no
   * registered worker is dead.
   */
  async watchOnce(): Promise<TakenOver | null> {
    const taken = await this.recovery.takeOverFromDead();
    // Dead workers leave the operations view.
    for (const workerId of taken?.workers ?? []) this.bus.publishWorkerChange(workerId);
    if (!taken || taken.steps.length + taken.scopes.length === 0) return taken;
    const { workers, steps, scopes } = taken;
    leaseTakeovers('dead_worker', steps.length);
    this.logger.warn(
      `worker(s) ${workers.join(', ')} died: queueing their ${steps.length} running step(s) and ${scopes.length} undecided scope(s) again`,
    );
    await this.queue.requeue(
      {
        advance: scopes.map(({ scopeId, responseId }) => ({ scopeId, responseId })),
        run: steps.map(({ stepId, responseId }) => ({ stepId, responseId })),
      },
      `takeover${Date.now().toString(36)}`,
    );
    await this.recordRun('takeover', { steps: steps.length, scopes: scopes.length });
    return taken;
  }

  private schedule(): void {
    // Jittered, so the workers' attempts spread out instead of all meeting the lock at once.
    const delay = this.intervalMs * (0.75 + Math.random() / 2);
    this.timer = setTimeout(() => {
      this.running = this.sweepOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.logger.warn(`sweep failed: ${String(error)}`))
        .finally(() => {
          this.running = null;
          if (this.timer) this.schedule();
        });
    }, delay);
    this.timer.unref();
  }

  /** One sweep; resolves with what it found, or null when another worker was sweeping. */
  async sweepOnce(): Promise<SweepFindings | null> {
    const tag = `sweep${Date.now().toString(36)}${++this.sweeps}`;
    return this.recovery.sweep(this.graceMs, async (found) => {
      const run = found.steps
        .filter((step) => step.status === 'running' || step.dispatched)
        .map((step) => ({ responseId: step.responseId, stepId: step.id }));
      const advance = found.scopes.map((scope) => ({
        responseId: scope.responseId,
        scopeId: scope.id,
      }));
      leaseTakeovers(
        'lease_expired',
        found.steps.filter((step) => step.status === 'running').length,
      );
      sweeperRequeues('step', run.length);
      sweeperRequeues('scope', advance.length);
      if (run.length + advance.length > 0) {
        this.logger.warn(
          `recovering ${run.length} step(s) and ${advance.length} scope(s) nobody was working on`,
        );
        await this.queue.requeue({ advance, run }, tag);
      }
      // Steps waiting for a slot whose dispatch was lost get one if the limits allow.
      const waiting = found.steps.filter((step) => step.status === 'pending' && !step.dispatched);
      for (const responseId of new Set(waiting.map((step) => step.responseId))) {
        await this.engine.dispatch(responseId);
      }
      for (const responseId of found.unclosedLogs) await this.closeLog(responseId);
      await this.recordRun('sweep', {
        steps: run.length + waiting.length,
        scopes: advance.length,
      });
      await this.expireApprovals(tag);
      return found;
    });
  }

  /** Notes the run for the operations view; a failure to note it costs only the note. */
  private async recordRun(
    kind: 'sweep' | 'takeover',
    counts: { steps: number; scopes: number },
  ): Promise<void> {
    await this.recovery
      .recordRun(kind, this.liveness.workerId, counts)
      .catch((error: unknown) =>
        this.logger.warn(`could not record the ${kind} run: ${String(error)}`),
      );
  }

  /**
   * Approval requests that expired unanswered are refused (approvals.expiresAfterMs): the
   * scopes whose round that completes decide next. Durable: the expiry is a time recorded
   * with each request, so whichever worker sweeps after it, restarts or not, ends it.
   */
  private async expireApprovals(tag: string): Promise<void> {
    const expired = await this.approvals.expire();
    if (expired.expired + expired.recorded === 0) return;
    this.logger.warn(
      `${expired.expired + expired.recorded} approval request(s) expired unanswered: refused`,
    );
    if (expired.scopes.length > 0) {
      await this.queue.requeue({ advance: expired.scopes, run: [] }, `${tag}expired`);
    }
  }

  private async closeLog(responseId: string): Promise<void> {
    const record = await this.responses.findById(responseId);
    if (!record || !isTerminalStatus(record.status)) return;
    this.logger.warn(`closing the event log of ${responseId}, which ended without it`);
    await this.log.close(record);
    await this.bus.publish({ type: 'terminal', responseId, record });
  }
}
