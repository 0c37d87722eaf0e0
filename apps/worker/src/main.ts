import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { createWorkerApp } from './worker-app';

runMain('worker', async () => {
  const config = AppConfig.fromEnvironment();
  const app = await createWorkerApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet-worker'),
  });
  exitOnSignals(app, { deadlineMs: config.env.RATCHET_SHUTDOWN_TIMEOUT_MS });
  return `processing jobs (concurrency ${config.env.WORKER_CONCURRENCY})`;
});
