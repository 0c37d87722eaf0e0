import { setTimeout as delay } from 'node:timers/promises';
import type { ClaimedStep } from '@ratchet/store';

/**
 * The waits of a worker that took a new response's job before the statement creating the
 * response committed (the job is queued while it runs), should it find no response yet:
 * about 4 s in all. One at a time the statement has long committed when the job is taken;
 * under load on Postgres it may not have. A create that failed leaves such a job behind,
 * which ends after these; a response committed later still is recovered by the sweep
 * (sweeper.service.ts).
 */
export const RECORD_WAITS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000];

/**
 * How long a worker runs a new response's first model call before claiming it. A call that
 * ends sooner is claimed and finished by its outcome's statement; one that runs longer holds a
 * lease from here on, as every claimed step does, so that the death of its worker is seen at
 * once (a step nobody claimed waits for the sweep: RATCHET_SWEEP_GRACE_MS).
 */
export const FIRST_TAKE_AFTER_MS = 20;

/**
 * A new response's first model call, run by the worker that took its job before any
 * statement of its own: the response's create recorded it pending, and the job carried its
 * scope (first-step.ts in libs/store). Should the call run longer than FIRST_TAKE_AFTER_MS,
 * the worker claims it as any queued step is claimed (`take`). `state` says where that
 * stands: still unclaimed (the outcome's statement claims it), taken here (`claimed.attempt`
 * is the claim's), or lost (another claim has it, its response ended, or it never was
 * recorded): its outcome is then not this worker's to write.
 */
export class FirstTake {
  state: 'unclaimed' | 'taken' | 'lost' = 'unclaimed';
  /** Lost because no such step was found, after all of RECORD_WAITS_MS. */
  missing = false;
  private timer: NodeJS.Timeout | null;
  private taking: Promise<void> | null = null;
  private recordWaits = 0;
  private readonly waits: readonly number[];

  constructor(
    private readonly claimed: ClaimedStep,
    private readonly claim: () => Promise<ClaimedStep | 'missing' | null>,
    { afterMs = FIRST_TAKE_AFTER_MS, waits = RECORD_WAITS_MS } = {},
  ) {
    this.waits = waits;
    this.timer = setTimeout(() => void this.take().catch(() => undefined), afterMs);
  }

  /**
   * Claims the step now, unless that was done. A step not there yet (its create has not
   * committed) is looked for again after each of RECORD_WAITS_MS (`waits`).
   */
  take(): Promise<void> {
    this.stop();
    this.taking ??= this.claimOnce();
    return this.taking;
  }

  /** Before the outcome is recorded: no claim starts any more, and one under way is awaited. */
  async settle(): Promise<void> {
    this.stop();
    if (this.taking) await this.taking;
  }

  /**
   * After an outcome's statement found no such step: waits for the statement creating it to
   * commit, not at all the first time, then each of RECORD_WAITS_MS in turn. False, and
   * `missing`, when they have run out.
   */
  async awaitRecord(): Promise<boolean> {
    const wait = this.recordWaits++;
    if (wait > this.waits.length) {
      this.missing = true;
      return false;
    }
    if (wait > 0) await delay(this.waits[wait - 1]);
    return true;
  }

  /** No claim starts any more (the call was not run to its end here). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async claimOnce(): Promise<void> {
    let taken = await this.claim();
    for (const wait of this.waits) {
      if (taken !== 'missing') break;
      await delay(wait);
      taken = await this.claim();
    }
    if (taken === null || taken === 'missing') {
      this.state = 'lost';
      this.missing = taken === 'missing';
      return;
    }
    this.claimed.attempt = taken.attempt;
    this.state = 'taken';
  }
}
