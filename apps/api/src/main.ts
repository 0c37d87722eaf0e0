import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { serveMetrics } from '@ratchet/telemetry';

import { createApiApp } from './api-app';

runMain('api', async () => {
  const config = AppConfig.fromEnvironment();
  const app = await createApiApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet-api'),
  });
  exitOnSignals(app, {
    deadlineMs: config.env.RATCHET_SHUTDOWN_TIMEOUT_MS,
    log: (line) => process.stderr.write(`ratchet api: ${line}\n`),
  });
  await app.listen(config.env.PORT, '0.0.0.0');
  const metrics = await serveMetrics(config.env.RATCHET_METRICS_PORT);
  return `listening on http://127.0.0.1:${config.env.PORT}${metrics}`;
});
