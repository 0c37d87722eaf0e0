import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { ResponseBus } from '@ratchet/events';

/** Why an in-flight step was aborted. */
export type AbortCause = 'cancelled' | 'deadline';

export class StepAbort extends Error {
  constructor(readonly kind: AbortCause) {
    super(kind === 'cancelled' ? 'The response was cancelled.' : 'The response ran out of time.');
    this.name = 'StepAbort';
  }
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

  constructor(private readonly bus: ResponseBus) {}

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe = await this.bus.onCancel((responseId) => this.abortResponse(responseId));
  }

  async onModuleDestroy(): Promise<void> {
    await this.unsubscribe?.();
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
