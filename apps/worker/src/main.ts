import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { logFields, serveMetrics, startTracing, stopTracing, tracesUrl } from '@ratchet/telemetry';
import { handBackDelay, InFlightRegistry } from './in-flight.registry';
import { createWorkerApp } from './worker-app';

runMain('worker', async () => {
  const config = AppConfig.fromEnvironment();
  // Before the app, so everything it sets up runs with traces on (when they are).
  const traces = await startTracing({
    url: tracesUrl(config.env),
    serviceName: config.env.OTEL_SERVICE_NAME ?? 'ratchet-worker',
  });
  const app = await createWorkerApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet-worker', logFields),
  });
  const deadlineMs = config.env.RATCHET_SHUTDOWN_TIMEOUT_MS;
  exitOnSignals(app, {
    deadlineMs,
    onSignal: () => app.get(InFlightRegistry).handBackAfter(handBackDelay(deadlineMs)),
    onStop: stopTracing,
    log: (line) => process.stderr.write(`ratchet worker: ${line}\n`),
  });
  const metrics = await serveMetrics(config.env.RATCHET_METRICS_PORT);
  return `processing jobs (concurrency ${config.env.WORKER_CONCURRENCY})${metrics}${traces}`;
});
