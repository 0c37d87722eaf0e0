import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { isJobName, parseJob, QUEUE_NAME } from '@ratchet/queue';
import type { Job } from 'bullmq';
import { EngineService } from './engine.service';

const ERROR_LOG_INTERVAL_MS = 10_000;

/** Takes ratchet's jobs off the queue and hands each to the engine. */
@Processor(QUEUE_NAME)
export class StepsProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(StepsProcessor.name);
  private lastErrorLoggedAt = 0;

  constructor(
    private readonly engine: EngineService,
    private readonly config: AppConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.env.WORKER_CONCURRENCY;
    // The connection retries by itself: report an outage once per interval, not per retry.
    this.worker.on('error', (error: Error) => {
      const now = Date.now();
      if (now - this.lastErrorLoggedAt < ERROR_LOG_INTERVAL_MS) return;
      this.lastErrorLoggedAt = now;
      this.logger.warn(`worker connection: ${error.message}`);
    });
  }

  async process(job: Job): Promise<void> {
    const name = job.name;
    if (!isJobName(name)) throw new Error(`unknown job '${name}'`);
    switch (name) {
      case 'scope.advance':
        return this.engine.advance(parseJob(name, job.data));
      case 'step.run':
        return this.engine.runStep(parseJob(name, job.data));
    }
  }
}
