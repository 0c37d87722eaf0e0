import type { WorkerSlots } from './worker-slots';

/**
 * Why a sibling's wait for a borrowed slot stops: a sibling of its round passed it one. A
 * reason of its own, since `abort()` without one builds a DOMException, stack and all, for
 * every sibling served so (about 1.5% of a busy worker's time under a burst of fan-outs).
 */
const PASSED = 'passed a slot of its round';

/** The slot a sibling runs in: its job's own, or one borrowed from WorkerSlots. */
export type Slot = 'job' | 'borrowed';

/**
 * The slots one job's round of siblings runs in. The first sibling runs in the job's own
 * slot, some in slots borrowed up front, and the rest wait: for a slot that WorkerSlots grants
 * them, or for one that a sibling of the same round passes on as it finishes, whichever comes
 * first. So a busy worker runs its round's calls one after another in the slots it holds, and
 * a call whose slot does not come within `waitMs` (or longer, while jobs wait in the queue:
 * WorkerSlots.waitForSlot) goes to the queue instead (the caller hands it back), for any worker.
 */
export class RoundSlots {
  /** Siblings of the round waiting for a slot; each takes one passed on, unless served. */
  private readonly waiting: Array<(slot: Slot) => boolean> = [];

  constructor(
    private readonly slots: WorkerSlots,
    private readonly waitMs: number,
  ) {}

  /**
   * A slot for a sibling the worker reserved a place for (WorkerSlots.reserve), or null when
   * none came within the wait. Its reservation is spent either way.
   */
  acquire(): Promise<Slot | null> {
    return new Promise<Slot | null>((resolve) => {
      let served = false;
      const stop = new AbortController();
      const passed = (slot: Slot): boolean => {
        if (served) return false;
        served = true;
        stop.abort(PASSED);
        resolve(slot);
        return true;
      };
      this.waiting.push(passed);
      void this.slots.waitForSlot(this.waitMs, stop.signal).then((granted) => {
        if (served) {
          // Passed a slot of the round while WorkerSlots granted one as well.
          if (granted) this.slots.giveBack(1);
          return;
        }
        served = true;
        const at = this.waiting.indexOf(passed);
        if (at >= 0) this.waiting.splice(at, 1);
        resolve(granted ? 'borrowed' : null);
      });
    });
  }

  /** A sibling is done with its slot: it goes to one of the round that waits, or back. */
  free(slot: Slot): void {
    while (this.waiting.length > 0) {
      if (this.waiting.shift()!(slot)) return;
    }
    if (slot === 'borrowed') this.slots.giveBack(1);
  }
}
