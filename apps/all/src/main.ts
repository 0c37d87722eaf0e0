import { AppConfig, exitOnSignals, PinoLogger, runMain } from '@ratchet/config';
import { createApiApp } from '@ratchet/api';
import { WorkerModule } from '@ratchet/worker';

// `npm start`: the API and a worker in one process, sharing one Postgres and one Redis.
runMain('all', async () => {
  const config = AppConfig.fromEnvironment();
  const app = await createApiApp(config, {
    logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet'),
    extraModules: [WorkerModule],
  });
  exitOnSignals(app, { deadlineMs: config.env.RATCHET_SHUTDOWN_TIMEOUT_MS });
  await app.listen(config.env.PORT, '0.0.0.0');
  return `api and worker listening on http://127.0.0.1:${config.env.PORT}`;
});
