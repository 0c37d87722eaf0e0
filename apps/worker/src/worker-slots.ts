import { Injectable } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';

/** The part of BullMQ's worker the slots steer: how many jobs it may hold at once. */
export interface JobTaker {
  concurrency: number;
}

/**
 * The worker process's job slots (WORKER_CONCURRENCY), shared by the jobs BullMQ hands it and
 * the siblings a job runs beside itself. A job that records a round of several tool calls
 * runs one of them in its own slot and may borrow free slots for more; while it holds them,
 * BullMQ takes that many fewer jobs. So a worker never runs more steps at once than it has
 * slots, and a busy one borrows nothing: its siblings go to the queue, for any worker.
 */
@Injectable()
export class WorkerSlots {
  private readonly capacity: number;
  private jobs = 0;
  private borrowed = 0;
  private taker: JobTaker | null = null;

  constructor(config: AppConfig) {
    this.capacity = config.env.WORKER_CONCURRENCY;
  }

  /** The BullMQ worker whose job intake follows the borrowed slots. */
  attach(taker: JobTaker): void {
    this.taker = taker;
    this.steer();
  }

  /** Runs a job in one of the slots. */
  async job<T>(run: () => Promise<T>): Promise<T> {
    this.jobs += 1;
    try {
      return await run();
    } finally {
      this.jobs -= 1;
    }
  }

  /**
   * Borrows up to `wanted` free slots; returns how many it got, to give back with `giveBack`.
   * A slot is free when neither a job nor a borrowed sibling holds it; one is always left for
   * BullMQ, so the worker keeps taking jobs.
   */
  borrow(wanted: number): number {
    const free = this.capacity - 1 - this.jobs - this.borrowed;
    const got = Math.max(0, Math.min(wanted, free));
    if (got > 0) {
      this.borrowed += got;
      this.steer();
    }
    return got;
  }

  giveBack(slots: number): void {
    if (slots <= 0) return;
    this.borrowed = Math.max(0, this.borrowed - slots);
    this.steer();
  }

  private steer(): void {
    if (this.taker) this.taker.concurrency = Math.max(1, this.capacity - this.borrowed);
  }
}
