import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { logFields, serveMetrics, startTracing, stopTracing, tracesUrl } from '@ratchet/telemetry';

import { createApiApp } from './api-app';
import { listen } from './listen';

runMain('api', async () => {
  const config = AppConfig.fromEnvironment();
  // Before the app, so everything it sets up runs with traces on (when they are).
  const traces = await startTracing({
    url: tracesUrl(config.env),
    serviceName: config.env.OTEL_SERVICE_NAME ?? 'ratchet-api',
  });
  const app = await createApiApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet-api', logFields),
  });
  exitOnSignals(app, {
    deadlineMs: config.env.RATCHET_SHUTDOWN_TIMEOUT_MS,
    onStop: stopTracing,
    log: (line) => process.stderr.write(`ratchet api: ${line}\n`),
  });
  await listen(app, config.env.PORT, '0.0.0.0');
  const metrics = await serveMetrics(config.env.RATCHET_METRICS_PORT);
  return `listening on http://127.0.0.1:${config.env.PORT}${metrics}${traces}`;
});
