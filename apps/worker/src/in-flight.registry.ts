import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { ResponseBus } from '@ratchet/events';

/** Why an in-flight step was aborted. */
export type AbortCause = 'cancelled' | 'deadline' | 'shutdown';

const ABORT_MESSAGES: Record<AbortCause, string> = {
  cancelled: 'The response was cancelled.',
  deadline: 'The response ran out of time.',
  shutdown: 'The worker is shutting down; another worker takes the step over.',
};

export class StepAbort extends Error {
  constructor(readonly kind: AbortCause) {
    super(ABORT_MESSAGES[kind]);
    this.name = 'StepAbort';
  }
}

/**
 * When a stopping worker gives up its running steps: late enough for most to finish, early
 * enough to record the hand-back before the shutdown deadline kills the process.
 */
export function handBackDelay(deadlineMs: number): number {
  return Math.max(0, deadlineMs - Math.min(5_000, deadlineMs / 5));
}

/**
 * The steps this process is executing, by response, so that a cancel broadcast from any API
 * process aborts their upstream and tool requests at once.
 */
@Injectable()
export class InFlightRegistry implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(InFlightRegistry.name);
  private readonly byResponse = new Map<string, Set<AbortController>>();
  private unsubscribe: (() => Promise<void>) | null = null;
  private handBackStarted = false;
  private handBackTimer: NodeJS.Timeout | null = null;

  constructor(private readonly bus: ResponseBus) {}

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe = await this.bus.onCancel((responseId) => this.abortResponse(responseId));
  }

  // The hand-back timer stays: closing the app is what waits for the steps it hands back.
  async onModuleDestroy(): Promise<void> {
    await this.unsubscribe?.();
  }

  /** Whether running steps are being given up for other workers (a shutdown ran late). */
  get handingBack(): boolean {
    return this.handBackStarted;
  }

  /**
   * A shutdown began: steps still running after `ms` are aborted and handed back, so the
   * process can exit in time and another worker takes them over at once.
   */
  handBackAfter(ms: number): void {
    this.handBackTimer ??= setTimeout(() => {
      this.handBackStarted = true;
      let count = 0;
      for (const set of this.byResponse.values()) {
        for (const controller of set) {
          controller.abort(new StepAbort('shutdown'));
          count++;
        }
      }
      if (count > 0) this.logger.warn(`shutting down: handing ${count} running step(s) back`);
    }, ms);
    this.handBackTimer.unref();
  }

  /**
   * Runs `work` with a signal that aborts when the response is cancelled or its deadline
   * passes; the signal's reason is a StepAbort saying which.
   */
  async run<T>(
    responseId: string,
    deadline: Date | null,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const controller = new AbortController();
    let set = this.byResponse.get(responseId);
    if (!set) {
      set = new Set();
      this.byResponse.set(responseId, set);
    }
    set.add(controller);
    const remaining = deadline ? deadline.getTime() - Date.now() : null;
    const timer =
      remaining === null
        ? null
        : setTimeout(() => controller.abort(new StepAbort('deadline')), Math.max(0, remaining));
    try {
      return await work(controller.signal);
    } finally {
      if (timer) clearTimeout(timer);
      set.delete(controller);
      if (set.size === 0) this.byResponse.delete(responseId);
    }
  }

  abortResponse(responseId: string): void {
    const set = this.byResponse.get(responseId);
    if (!set) return;
    this.logger.log(`aborting ${set.size} in-flight step(s) of ${responseId}`);
    for (const controller of set) controller.abort(new StepAbort('cancelled'));
  }
}
