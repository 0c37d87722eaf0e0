import { type INestApplicationContext, type LoggerService, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppConfig, ConfigModule } from '@ratchet/config';
import { TraceContextRepository } from '@ratchet/store';
import { configureTelemetry, useTraceContexts } from '@ratchet/telemetry';
import { WorkerModule } from './worker.module';

/** Builds a worker process: BullMQ processors, no HTTP. */
export async function createWorkerApp(
  config: AppConfig,
  options: { logger?: LoggerService | false } = {},
): Promise<INestApplicationContext> {
  @Module({ imports: [ConfigModule.forRoot(config), WorkerModule] })
  class RootModule {}

  configureTelemetry(config.config);
  const app = await NestFactory.createApplicationContext(RootModule, { logger: options.logger });
  useTraceContexts(app.get(TraceContextRepository));
  return app;
}
