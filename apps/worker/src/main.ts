import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { serveMetrics } from '@ratchet/telemetry';
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
  const metrics = await serveMetrics(config.env.RATCHET_METRICS_PORT);
  return `processing jobs (concurrency ${config.env.WORKER_CONCURRENCY})${metrics}`;
});
