import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { connectionErrorLogger, isJobName, parseJob, QUEUE_NAME } from '@ratchet/queue';
import { observeQueueWait } from '@ratchet/telemetry';
import type { Job } from 'bullmq';
import { DrainState } from './drain-state';
import { EngineService } from './engine.service';
import { Liveness } from './liveness.service';
import { QueueBacklog } from './queue-backlog';
import { WorkerSlots } from './worker-slots';

/** Takes ratchet's jobs off the queue and hands each to the engine. */
@Processor(QUEUE_NAME)
export class StepsProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly engine: EngineService,
    private readonly liveness: Liveness,
    private readonly drain: DrainState,
    private readonly slots: WorkerSlots,
    private readonly backlog: QueueBacklog,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    // WORKER_CONCURRENCY slots, less those lent to siblings a job runs beside itself, who
    // wait on for a slot while jobs wait in this queue.
    this.slots.attach(this.worker, this.backlog);
    this.worker.on('error', connectionErrorLogger(new Logger(StepsProcessor.name), 'worker'));
    // A worker without a liveness session takes no jobs: whatever it claimed, other workers
    // would take over at once.
    this.liveness.onChange((live) => {
      if (live && !this.drain.draining) void this.worker.resume();
      else void this.worker.pause(true).catch(() => undefined);
    });
    // A draining worker fetches no more jobs; the drain is done when the running ones are.
    this.drain.onDrain(() => this.worker.pause());
  }

  process(job: Job): Promise<void> {
    return this.slots.job(() => this.run(job));
  }

  private async run(job: Job): Promise<void> {
    const name = job.name;
    if (!isJobName(name)) throw new Error(`unknown job '${name}'`);
    observeQueueWait(name, job.timestamp);
    switch (name) {
      case 'scope.advance':
        return this.engine.advance(parseJob(name, job.data));
      case 'step.run':
        return this.engine.runStep(parseJob(name, job.data), job.timestamp);
    }
  }
}
