import { Injectable } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';

/**
 * Siblings kept in line per slot at most. Under a burst of quick tool calls, a worker's slots
 * turn over many times within a sibling's wait; in a burst of 300 fan-out responses on 64
 * slots, one per slot left most rounds to the queue, four kept nearly all of them here.
 */
const RESERVED_PER_SLOT = 4;

/**
 * Waits of the last second or so count (halved every second) when the worker decides whether
 * to keep siblings in line at all: when most of them ended with no slot, the slots are held by
 * long steps, and siblings go to the queue at once, as they did before they were kept.
 */
const WAIT_HISTORY_HALF_LIFE_MS = 1000;
/** Waits without a slot, of the recent ones, past which nothing more is kept in line. */
const MISSED_WAITS_TOLERATED = 4;

/**
 * The longest a kept sibling waits in all, while jobs wait in the queue too (see `waitForSlot`),
 * and at most a quarter of its lease: a sibling waiting here is claimed, and its lease is
 * renewed only once it runs.
 */
const LONGEST_WAIT_MS = 5_000;

/** The part of BullMQ's worker the slots steer: how many jobs it may hold at once. */
export interface JobTaker {
  concurrency: number;
}

/** Whether jobs wait in the queue, so that no worker has a slot free (QueueBacklog). */
export interface Backlog {
  busy(): Promise<boolean>;
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
 * within its wait goes to the queue, for any worker, unless jobs wait there already: then no
 * worker has a slot free, and the sibling would only wait behind them, so it waits here on.
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
  /** Recent waits that ended with a slot, and without one (see WAIT_HISTORY_HALF_LIFE_MS). */
  private served = 0;
  private missed = 0;
  private countedAt = 0;
  private taker: JobTaker | null = null;
  private backlog: Backlog | null = null;
  private readonly longestWaitMs: number;

  constructor(config: AppConfig) {
    this.capacity = config.env.WORKER_CONCURRENCY;
    this.longestWaitMs = Math.min(LONGEST_WAIT_MS, config.env.RATCHET_STEP_LEASE_MS / 4);
  }

  /**
   * The BullMQ worker whose job intake follows the borrowed slots, and what tells whether
   * jobs wait in its queue (without it, a wait that runs out always ends).
   */
  attach(taker: JobTaker, backlog: Backlog | null = null): void {
    this.taker = taker;
    this.backlog = backlog;
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
    const got = Math.max(0, Math.min(wanted, this.free()));
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
   * many it got, at most RESERVED_PER_SLOT per slot in all, and none while most recent waits
   * ended without a slot. Each is then either awaited (`waitForSlot`) or let go (`unreserve`).
   */
  reserve(wanted: number): number {
    this.decayWaits();
    if (this.missed > MISSED_WAITS_TOLERATED && this.missed > this.served) return 0;
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
   * Waits, for a reserved sibling, up to `ms` for a slot, and `ms` more each time that runs
   * out while jobs wait in the queue (up to LONGEST_WAIT_MS in all): true when one was granted
   * (a borrowed slot, given back with `giveBack`), false when none came in time or `signal`
   * aborted the wait (the sibling was served otherwise). Either way the reservation is spent.
   */
  waitForSlot(ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const lastChanceAt = Date.now() + this.longestWaitMs - ms;
      const granted = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', servedOtherwise);
        this.countWait(true);
        resolve(true);
      };
      const giveUp = (served: boolean): void => {
        const at = this.waiting.indexOf(granted);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', servedOtherwise);
        this.countWait(served);
        this.unreserve(1);
        resolve(false);
      };
      const servedOtherwise = (): void => giveUp(true);
      const runOut = (): void => {
        if (!this.backlog || Date.now() > lastChanceAt) return giveUp(false);
        void this.backlog.busy().then((busy) => {
          // Granted a slot or called off while the queue was asked: nothing left to do.
          if (!this.waiting.includes(granted)) return;
          if (busy) timer = setTimeout(runOut, ms);
          else giveUp(false);
        });
      };
      let timer = setTimeout(runOut, ms);
      signal?.addEventListener('abort', servedOtherwise, { once: true });
      this.waiting.push(granted);
      this.grant();
    });
  }

  /** Hands free slots to waiting siblings, in the order they came. */
  private grant(): void {
    let changed = false;
    while (this.waiting.length > 0 && this.free() > 0) {
      const next = this.waiting.shift()!;
      this.reserved = Math.max(0, this.reserved - 1);
      this.borrowed += 1;
      changed = true;
      next();
    }
    if (changed) this.steer();
  }

  /** Slots neither a job nor a borrowed sibling holds, less the one always left for BullMQ. */
  private free(): number {
    return this.capacity - 1 - this.jobs - this.borrowed;
  }

  private countWait(served: boolean): void {
    this.decayWaits();
    if (served) this.served += 1;
    else this.missed += 1;
  }

  private decayWaits(): void {
    const now = Date.now();
    const kept = 0.5 ** ((now - this.countedAt) / WAIT_HISTORY_HALF_LIFE_MS);
    this.served *= kept;
    this.missed *= kept;
    this.countedAt = now;
  }

  private steer(): void {
    if (this.taker) {
      this.taker.concurrency = Math.max(1, this.capacity - this.borrowed - this.reserved);
    }
  }
}
