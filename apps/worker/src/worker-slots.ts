import { Injectable } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';

/**
 * Siblings kept in line per slot at most. Under a burst of quick tool calls, a worker's slots
 * turn over many times within a sibling's wait; in a burst of 300 fan-out responses on 64
 * slots, one per slot left most rounds to the queue, four kept nearly all of them here.
 */
const RESERVED_PER_SLOT = 4;

/** The part of BullMQ's worker the slots steer: how many jobs it may hold at once. */
export interface JobTaker {
  concurrency: number;
}

/**
 * The worker process's job slots (WORKER_CONCURRENCY), shared by the jobs BullMQ hands it and
 * the siblings a job runs beside itself. A job that records a round of several tool calls
 * runs one of them in its own slot and may borrow free slots for more; while it holds them,
 * BullMQ takes that many fewer jobs. So a worker never runs more steps at once than it has
 * slots.
 *
 * A busy worker may also keep siblings for the next slots to come free (`reserve`, then
 * `waitForSlot`): while any are reserved, BullMQ takes that many fewer jobs too, so a slot that a
 * job gives up goes to a waiting sibling before a new job. A sibling whose slot does not come
 * within its wait goes to the queue, for any worker.
 */
@Injectable()
export class WorkerSlots {
  private readonly capacity: number;
  private jobs = 0;
  private borrowed = 0;
  /** Siblings kept for a slot to come free: reserved, and not yet granted one nor let go. */
  private reserved = 0;
  /** Those of the reserved that wait now, first come first granted. */
  private readonly waiting: Array<() => void> = [];
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
      this.grant();
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
    this.grant();
    this.steer();
  }

  /**
   * Reserves up to `wanted` siblings a place in line for the next free slots; returns how
   * many it got, at most RESERVED_PER_SLOT per slot in all. Each is then either awaited
   * (`waitForSlot`) or let go (`unreserve`).
   */
  reserve(wanted: number): number {
    const got = Math.max(0, Math.min(wanted, RESERVED_PER_SLOT * this.capacity - this.reserved));
    if (got > 0) {
      this.reserved += got;
      this.steer();
    }
    return got;
  }

  /** Lets go of reserved siblings that will not wait (their round went otherwise). */
  unreserve(reserved: number): void {
    if (reserved <= 0) return;
    this.reserved = Math.max(0, this.reserved - reserved);
    this.steer();
  }

  /**
   * Waits, for a reserved sibling, up to `ms` for a slot: true when one was granted (a
   * borrowed slot, given back with `giveBack`), false when none came in time or `signal`
   * aborted the wait. Either way the reservation is spent.
   */
  waitForSlot(ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const granted = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        resolve(true);
      };
      const giveUp = (): void => {
        const at = this.waiting.indexOf(granted);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        this.unreserve(1);
        resolve(false);
      };
      const timer = setTimeout(giveUp, ms);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiting.push(granted);
      this.grant();
    });
  }

  /** Hands free slots to waiting siblings, in the order they came, as `borrow` lends them. */
  private grant(): void {
    let changed = false;
    while (this.waiting.length > 0 && this.capacity - 1 - this.jobs - this.borrowed > 0) {
      const next = this.waiting.shift()!;
      this.reserved = Math.max(0, this.reserved - 1);
      this.borrowed += 1;
      changed = true;
      next();
    }
    if (changed) this.steer();
  }

  private steer(): void {
    if (this.taker) {
      this.taker.concurrency = Math.max(1, this.capacity - this.borrowed - this.reserved);
    }
  }
}
