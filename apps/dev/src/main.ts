import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createApiApp, listen } from '@ratchet/api';
import { AppConfig, exitOnSignals, PinoLogger, runMain, StartupError } from '@ratchet/config';
import { ensureDatabase, findMigrationsDir, generateKeySecret, migrate } from '@ratchet/store';
import { logFields, startTracing, stopTracing, tracesUrl } from '@ratchet/telemetry';
import { handBackDelay, InFlightRegistry, WorkerModule } from '@ratchet/worker';
import { startEmbeddedPostgres, startRedisServer, type RunningService } from './embedded-services';
import { ServiceStartError } from './service-start-error';

// `npm run dev`: zero configuration. Uses DATABASE_URL / REDIS_URL when given, otherwise
// starts an embedded Postgres and a local redis-server; migrates; runs api + worker in one
// process; prints how to call it. Ctrl-C stops everything it started.

const repoRoot = path.resolve(findMigrationsDir(), '..', '..');
const dataDir = process.env.RATCHET_DATA_DIR || path.join(repoRoot, '.data');

function say(line: string): void {
  process.stdout.write(`ratchet dev: ${line}\n`);
}

/** The dev key survives restarts so curl lines and SDK scripts keep working. */
function devApiKey(): string {
  const file = path.join(dataDir, 'dev-api-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = generateKeySecret();
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** A service that cannot start is the user's to fix: its one line is all they need. */
function asStartupError(error: unknown): never {
  throw error instanceof ServiceStartError ? new StartupError(error.message) : error;
}

runMain('dev', async () => {
  const started: RunningService[] = [];
  const stopAll = async (): Promise<void> => {
    for (const service of started.reverse()) await service.stop().catch(() => undefined);
  };
  try {
    const env = { ...process.env };
    if (!env.DATABASE_URL) {
      const postgres = await startEmbeddedPostgres(dataDir, say).catch(asStartupError);
      started.push(postgres);
      env.DATABASE_URL = postgres.url;
      say(`embedded Postgres at ${postgres.url}`);
    }
    if (!env.REDIS_URL) {
      const redis = await startRedisServer(say).catch(asStartupError);
      started.push(redis);
      env.REDIS_URL = redis.url;
      say(`redis-server at ${redis.url}`);
    }
    await ensureDatabase(env.DATABASE_URL);
    const { applied } = await migrate(env.DATABASE_URL);
    say(applied.length ? `applied migrations: ${applied.join(', ')}` : 'database is up to date');
    env.RATCHET_ADMIN_KEY ||= devApiKey();

    const config = AppConfig.fromEnvironment(env);
    const traces = await startTracing({
      url: tracesUrl(config.env),
      serviceName: config.env.OTEL_SERVICE_NAME ?? 'ratchet',
    });
    if (traces) say(`sending traces to ${tracesUrl(config.env)}`);
    const app = await createApiApp(config, {
      logger: PinoLogger.create(config.env.LOG_LEVEL, 'ratchet', logFields),
      extraModules: [WorkerModule],
    });
    await listen(app, config.env.PORT, '127.0.0.1');

    const deadlineMs = config.env.RATCHET_SHUTDOWN_TIMEOUT_MS;
    exitOnSignals(app, {
      deadlineMs,
      onSignal: () => app.get(InFlightRegistry).handBackAfter(handBackDelay(deadlineMs)),
      onStop: () => stopTracing().then(stopAll),
      log: say,
    });

    const url = `http://127.0.0.1:${config.env.PORT}`;
    const model = Object.keys(config.config.models)[0];
    say(`ready at ${url} (config: ${config.configSource})`);
    say(`API key: ${env.RATCHET_ADMIN_KEY}`);
    say('try:');
    process.stdout.write(
      `\ncurl -s ${url}/v1/responses -H "Authorization: Bearer ${env.RATCHET_ADMIN_KEY}" ` +
        `-H "Content-Type: application/json" -d '{"model":"${model}","input":"Hello, ratchet!"}'\n\n`,
    );
  } catch (error) {
    await stopAll();
    throw error;
  }
});
