import { InjectQueue } from '@nestjs/bullmq';
import { Injectable, Logger } from '@nestjs/common';
import { Batcher } from '@ratchet/core';
import type { JobsOptions, Queue } from 'bullmq';
import { connectionErrorLogger } from './connection-errors';
import { QUEUE_NAME, type JobPayload } from './jobs';

// Jobs are removed once done: Postgres is the record, the queue only carries work. A job id
// is derived from what the job does, so enqueueing the same work twice while it is waiting
// adds one job.
const defaults: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: 1000,
  attempts: 5,
  backoff: { type: 'exponential', delay: 200 },
};

/** A job added on its own (batched under load): a scope to advance, or a first step to run. */
type SingleJob = {
  [N in 'scope.advance' | 'step.run']: {
    name: N;
    data: JobPayload<N>;
    opts: JobsOptions & { jobId: string };
  };
}['scope.advance' | 'step.run'];

@Injectable()
export class JobQueue {
  /**
   * Scopes to advance and new responses' first steps, added many at a time under load (one
   * Redis transaction for all the responses an API process accepts at once); alone, a job is
   * added at once.
   */
  private readonly singles = new Batcher<SingleJob, void>(
    async (jobs) => {
      if (jobs.length === 1) await this.queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
      else await this.queue.addBulk(jobs);
      return jobs.map(() => undefined);
    },
    { keyOf: (job) => job.opts.jobId, maxInFlight: 2, maxBatch: 100 },
  );

  constructor(@InjectQueue(QUEUE_NAME) private readonly queue: Queue) {
    queue.on('error', connectionErrorLogger(new Logger(JobQueue.name), 'queue'));
  }

  async advance(payload: JobPayload<'scope.advance'>, round: number | 'start'): Promise<void> {
    const jobId = `advance.${payload.scopeId}.${round}`;
    await this.singles.run({ name: 'scope.advance', data: payload, opts: { ...defaults, jobId } });
  }

  /** Queues a new response's first model call, with the scope it carries (`scope`). */
  async runFirst(payload: JobPayload<'step.run'>): Promise<void> {
    await this.singles.run({
      name: 'step.run',
      data: payload,
      opts: { ...defaults, jobId: `run.${payload.stepId}` },
    });
  }

  async runSteps(responseId: string, stepIds: readonly string[]): Promise<void> {
    if (stepIds.length === 0) return;
    await this.queue.addBulk(
      stepIds.map((stepId) => ({
        name: 'step.run',
        data: { responseId, stepId } satisfies JobPayload<'step.run'>,
        opts: { ...defaults, jobId: `run.${stepId}` },
      })),
    );
  }

  /**
   * Queues work again that recovery found idle. The job ids are new (`tag` tells them apart),
   * so a job stuck in the queue under the old id does not hide them; running the same work
   * twice is safe.
   */
  async requeue(
    work: { advance: JobPayload<'scope.advance'>[]; run: JobPayload<'step.run'>[] },
    tag: string,
  ): Promise<void> {
    const jobs = [
      ...work.advance.map((data) => ({
        name: 'scope.advance' as const,
        data,
        opts: { ...defaults, jobId: `advance.${data.scopeId}.${tag}` },
      })),
      ...work.run.map((data) => ({
        name: 'step.run' as const,
        data,
        opts: { ...defaults, jobId: `run.${data.stepId}.${tag}` },
      })),
    ];
    if (jobs.length > 0) await this.queue.addBulk(jobs);
  }

  /** The queue's name and how many of its jobs are in each state (the operations view). */
  async counts(): Promise<{ name: string; counts: Record<string, number> }> {
    const counts = await this.queue.getJobCounts(
      'waiting',
      'prioritized',
      'active',
      'delayed',
      'failed',
      'waiting-children',
    );
    return { name: this.queue.name, counts };
  }

  /** Jobs waiting for a worker to take them. */
  waitingCount(): Promise<number> {
    return this.queue.getJobCountByTypes('waiting', 'prioritized');
  }

  /** Round trip to Redis, for readiness checks. */
  async ping(): Promise<void> {
    await this.queue.count();
  }
}
