import { Injectable } from '@nestjs/common';
import { JobQueue } from '@ratchet/queue';
import { DrainState } from './drain-state';

/** How long an answer stands for the waits that run out after it. */
const ANSWER_FRESH_MS = 25;

/**
 * Whether jobs wait in the queue. While they do, no worker has a slot free: a worker with
 * one takes a waiting job at once. A sibling kept for a slot of this worker then gains
 * nothing by going to the queue, where it would wait behind those jobs (WorkerSlots).
 *
 * Asked when a sibling's wait runs out. Under a burst, many run out together: they share one
 * answer (one Redis command), asked again once it is ANSWER_FRESH_MS old. Should Redis not
 * answer, the queue counts as empty, and siblings go to it as they did without the question.
 * A draining worker keeps nothing waiting: for it, the queue is never busy.
 */
@Injectable()
export class QueueBacklog {
  private answer: { at: number; busy: Promise<boolean> } | null = null;

  constructor(
    private readonly queue: JobQueue,
    private readonly drain: DrainState,
  ) {}

  busy(): Promise<boolean> {
    if (this.drain.draining) return Promise.resolve(false);
    const now = Date.now();
    if (this.answer && now - this.answer.at < ANSWER_FRESH_MS) return this.answer.busy;
    const busy = this.queue.waitingCount().then(
      (waiting) => waiting > 0,
      () => false,
    );
    this.answer = { at: now, busy };
    return busy;
  }
}
