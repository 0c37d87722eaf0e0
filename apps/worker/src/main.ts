import { AppConfig, PinoLogger, runMain } from '@ratchet/config';
import { createWorkerApp } from './worker-app';

runMain('worker', async () => {
  const config = AppConfig.fromEnvironment();
  await createWorkerApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet-worker'),
  });
  return `processing jobs (concurrency ${config.env.WORKER_CONCURRENCY})`;
});
