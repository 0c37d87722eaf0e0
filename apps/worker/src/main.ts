import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { handBackDelay, InFlightRegistry } from './in-flight.registry';
import { createWorkerApp } from './worker-app';

runMain('worker', async () => {
  const config = AppConfig.fromEnvironment();
  const app = await createWorkerApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet-worker'),
  });
  const deadlineMs = config.env.RATCHET_SHUTDOWN_TIMEOUT_MS;
  exitOnSignals(app, {
    deadlineMs,
    onSignal: () => app.get(InFlightRegistry).handBackAfter(handBackDelay(deadlineMs)),
    log: (line) => process.stderr.write(`ratchet worker: ${line}\n`),
  });
  return `processing jobs (concurrency ${config.env.WORKER_CONCURRENCY})`;
});
