import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { ResponseBus } from '@ratchet/events';
import { WorkersRepository } from '@ratchet/store';
import { DrainState } from './drain-state';
import { InFlightRegistry } from './in-flight.registry';
import { Liveness } from './liveness.service';

/**
 * How often the worker reads its registration for a drain request: the request is in Postgres,
 * and the notice on the bus only makes it arrive sooner.
 */
const POLL_MS = 1_000;

/**
 * Drains this worker when an operator asks (POST /v1/admin/workers/{id}/drain): the request
 * arrives on the bus at once, or from the worker's row within a second. The worker then takes
 * no new jobs, says so (drain_started_at), lets its running jobs and steps finish, and says so
 * too (drained_at). It keeps its liveness session, so nothing it ran is taken over.
 */
@Injectable()
export class DrainWatch implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DrainWatch.name);
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private unsubscribe: (() => Promise<void>) | null = null;
  /** The worker id whose row says it drains (a new liveness session is a new id). */
  private marked: string | null = null;
  private drained = false;
  private draining: Promise<void> | null = null;

  constructor(
    private readonly state: DrainState,
    private readonly liveness: Liveness,
    private readonly workers: WorkersRepository,
    private readonly bus: ResponseBus,
    private readonly inFlight: InFlightRegistry,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe = await this.bus.onDrain((workerId) => {
      if (workerId === this.liveness.workerId) this.start(workerId);
    });
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.unsubscribe?.();
    await this.polling;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.polling = this.poll()
        .catch((error: unknown) => this.logger.warn(`drain check failed: ${String(error)}`))
        .finally(() => {
          this.polling = null;
          if (this.timer) this.schedule();
        });
    }, POLL_MS);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const workerId = this.liveness.workerId;
    if (!this.state.draining) {
      if (await this.workers.drainRequested(workerId)) this.start(workerId);
      return;
    }
    // Draining under a session opened since: its row says so too.
    if (this.marked !== workerId) await this.mark(workerId);
  }

  private start(workerId: string): void {
    if (this.draining) return;
    this.logger.warn(`draining worker ${workerId}: no new jobs; running ones finish`);
    this.draining = this.drain().catch((error: unknown) =>
      this.logger.warn(`draining failed: ${String(error)}`),
    );
  }

  private async drain(): Promise<void> {
    const stopped = this.state.drain();
    await this.mark(this.liveness.workerId);
    await stopped;
    await this.inFlight.drained();
    this.drained = true;
    await this.mark(this.liveness.workerId);
    this.logger.warn(`worker ${this.liveness.workerId} drained`);
  }

  private async mark(workerId: string): Promise<void> {
    if (this.drained) await this.workers.markDrained(workerId);
    else await this.workers.markDrainStarted(workerId);
    this.marked = workerId;
    this.bus.publishWorkerChange(workerId);
  }
}
