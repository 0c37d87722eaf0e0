import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { ResponseBus } from '@ratchet/events';
import { watchInFlight } from '@ratchet/telemetry';

/** Why an in-flight step was aborted. */
export type AbortCause = 'cancelled' | 'deadline' | 'shutdown' | 'orphaned';

const ABORT_MESSAGES: Record<AbortCause, string> = {
  cancelled: 'The response was cancelled.',
  deadline: 'The response ran out of time.',
  shutdown: 'The worker is shutting down; another worker takes the step over.',
  orphaned: 'The worker lost its liveness session; another worker takes the step over.',
};

/** What became of a step run: its result, and whether the step is to be handed back. */
export interface InFlightResult<T> {
  value: T;
  /**
   * The worker gave the step up while it ran (a shutdown ran late, or the liveness session
   * the step was claimed under is gone): its result must not be recorded.
   */
  handBack: boolean;
}

export class StepAbort extends Error {
  constructor(readonly kind: AbortCause) {
    super(ABORT_MESSAGES[kind]);
    this.name = 'StepAbort';
  }
}

/**
 * How long a cancel is remembered for the steps of its response that start after it: steps
 * claimed before it that were still waiting for a slot (a kept sibling waits up to 5 s, see
 * WorkerSlots), which the broadcast found nothing to abort of.
 */
const CANCEL_MEMORY_MS = 60_000;

/**
 * When a stopping worker gives up its running steps: late enough for most to finish, early
 * enough to record the hand-back before the shutdown deadline kills the process.
 */
export function handBackDelay(deadlineMs: number): number {
  return Math.max(0, deadlineMs - Math.min(5_000, deadlineMs / 5));
}

/**
 * The steps this process is executing, by response, so that a cancel broadcast from any API
 * process aborts their upstream and tool requests at once. A step runs only under the
 * worker id of the liveness session that stands now (see Liveness): when that session is
 * lost, every running step is aborted and handed back, since other workers take over the
 * steps of a lost session at once.
 */
@Injectable()
export class InFlightRegistry implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(InFlightRegistry.name);
  private readonly byResponse = new Map<string, Set<AbortController>>();
  private unsubscribe: (() => Promise<void>) | null = null;
  private handBackStarted = false;
  private handBackTimer: NodeJS.Timeout | null = null;
  /** The worker id steps may run under: that of the liveness session that stands now. */
  private liveOwner: string | null = null;
  private running = 0;
  private drainedWaiters: (() => void)[] = [];
  /** Responses cancelled within CANCEL_MEMORY_MS, oldest first, with when. */
  private readonly cancelledAt = new Map<string, number>();
  private readonly unwatch = watchInFlight({
    steps: () => this.running,
    responses: () => this.byResponse.size,
  });

  constructor(private readonly bus: ResponseBus) {}

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe = await this.bus.onCancel((responseId) => this.abortResponse(responseId));
  }

  // The hand-back timer stays: closing the app is what waits for the steps it hands back.
  async onModuleDestroy(): Promise<void> {
    this.unwatch();
    await this.unsubscribe?.();
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

  /** A liveness session stands under `owner`: steps claimed under it may run. */
  adopt(owner: string): void {
    this.liveOwner = owner;
  }

  /**
   * The liveness session is lost: other workers may take its steps at any moment, so every
   * step running here is aborted, to be handed back, and none may start until a new session
   * stands. Returns how many were aborted.
   */
  orphan(): number {
    this.liveOwner = null;
    let count = 0;
    for (const set of this.byResponse.values()) {
      for (const controller of set) {
        if (!controller.signal.aborted) count++;
        controller.abort(new StepAbort('orphaned'));
      }
    }
    return count;
  }

  /** Resolves once no step runs here. */
  drained(): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainedWaiters.push(resolve));
  }

  /**
   * Runs `work` with a signal that aborts when the response is cancelled (or was, just before)
   * or its deadline passes, the worker hands its steps back, or `owner` (the worker id the step
   * was claimed under) is not, or stops being, that of the standing liveness session; the
   * signal's reason is a StepAbort saying which.
   */
  async run<T>(
    responseId: string,
    deadline: Date | null,
    owner: string,
    work: (signal: AbortSignal) => Promise<T>,
  ): Promise<InFlightResult<T>> {
    const controller = new AbortController();
    // Claimed under a session that is gone already: other workers may be running it now.
    if (owner !== this.liveOwner) controller.abort(new StepAbort('orphaned'));
    else if (this.cancelledSince(responseId)) controller.abort(new StepAbort('cancelled'));
    this.running++;
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
      const value = await work(controller.signal);
      const reason: unknown = controller.signal.reason;
      const orphaned = reason instanceof StepAbort && reason.kind === 'orphaned';
      return { value, handBack: this.handBackStarted || orphaned };
    } finally {
      if (timer) clearTimeout(timer);
      set.delete(controller);
      if (set.size === 0) this.byResponse.delete(responseId);
      if (--this.running === 0) {
        for (const resolve of this.drainedWaiters.splice(0)) resolve();
      }
    }
  }

  abortResponse(responseId: string): void {
    this.forgetCancels();
    this.cancelledAt.delete(responseId);
    this.cancelledAt.set(responseId, Date.now());
    const set = this.byResponse.get(responseId);
    if (!set) return;
    this.logger.log(`aborting ${set.size} in-flight step(s) of ${responseId}`);
    for (const controller of set) controller.abort(new StepAbort('cancelled'));
  }

  private cancelledSince(responseId: string): boolean {
    const at = this.cancelledAt.get(responseId);
    return at !== undefined && Date.now() - at < CANCEL_MEMORY_MS;
  }

  /** Drops the cancels older than CANCEL_MEMORY_MS. */
  private forgetCancels(): void {
    const before = Date.now() - CANCEL_MEMORY_MS;
    for (const [responseId, at] of this.cancelledAt) {
      if (at >= before) return;
      this.cancelledAt.delete(responseId);
    }
  }
}
