import { Injectable } from '@nestjs/common';

/**
 * Whether this worker is draining: an operator asked it to take no new jobs and finish the
 * ones it runs. Once draining, the job processor stops fetching, and the engine no longer
 * runs a chain's next step in the job that finished the last one (it goes through the queue,
 * to another worker). A drain lasts for the process's life.
 */
@Injectable()
export class DrainState {
  private started = false;
  private readonly stoppers: (() => Promise<void>)[] = [];
  private finished: Promise<void> | null = null;

  get draining(): boolean {
    return this.started;
  }

  /** `stop` is called once when draining starts, and resolves once its part is done. */
  onDrain(stop: () => Promise<void>): void {
    this.stoppers.push(stop);
  }

  /** Starts draining (once); resolves when every part of the worker has stopped and finished. */
  drain(): Promise<void> {
    this.started = true;
    this.finished ??= Promise.all(this.stoppers.map((stop) => stop())).then(() => undefined);
    return this.finished;
  }
}
