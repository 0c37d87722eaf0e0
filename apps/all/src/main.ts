import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { createApiApp, listen } from '@ratchet/api';
import { logFields, serveMetrics, startTracing, stopTracing, tracesUrl } from '@ratchet/telemetry';
import { handBackDelay, InFlightRegistry, WorkerModule } from '@ratchet/worker';

// `npm start`: the API and a worker in one process, sharing one Postgres and one Redis.
runMain('all', async () => {
  const config = AppConfig.fromEnvironment();
  // Before the app, so everything it sets up runs with traces on (when they are).
  const traces = await startTracing({
    url: tracesUrl(config.env),
    serviceName: config.env.OTEL_SERVICE_NAME ?? 'ratchet',
  });
  const app = await createApiApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet', logFields),
    extraModules: [WorkerModule],
  });
  const deadlineMs = config.env.RATCHET_SHUTDOWN_TIMEOUT_MS;
  exitOnSignals(app, {
    deadlineMs,
    onSignal: () => app.get(InFlightRegistry).handBackAfter(handBackDelay(deadlineMs)),
    onStop: stopTracing,
    log: (line) => process.stderr.write(`ratchet all: ${line}\n`),
  });
  await listen(app, config.env.PORT, '0.0.0.0');
  const metrics = await serveMetrics(config.env.RATCHET_METRICS_PORT);
  return `api and worker listening on http://127.0.0.1:${config.env.PORT}${metrics}${traces}`;
});
