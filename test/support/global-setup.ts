import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import {
  startEmbeddedPostgres,
  startRedisServer,
  type RunningService,
} from '../../apps/dev/src/embedded-services';
import { migrate } from '../../libs/store/src/migrate';
import { withShortRedis } from './redis-probe';
import { databaseUrl, newTemplateName, serverUrl, withClient } from './database';
import { newRunRedisPrefix } from './redis-prefix';

// Tests use the Postgres and Redis on their default local ports (or TEST_DATABASE_URL and
// TEST_REDIS_URL). Where none answers, as on a fresh machine, they get an embedded Postgres
// and a throwaway redis-server of their own, stopped again by global-teardown.
//
// Every run migrates a template database of its own, which global-teardown drops: a template
// left by an older checkout may hold a different schema, runs of several checkouts may share
// the server, and migrating one small database is quick.

declare global {
  var ratchetTestServices: RunningService[] | undefined;
}

export default async function globalSetup(): Promise<void> {
  globalThis.ratchetTestServices = [];
  await ensureServices(globalThis.ratchetTestServices);
  const template = newTemplateName();
  process.env.RATCHET_TEST_TEMPLATE = template;
  process.env.RATCHET_TEST_REDIS_PREFIX = newRunRedisPrefix();
  // The run's files (test/support/ratchet.ts writeConfig), readable by the processes tests start.
  const files = mkdtempSync(path.join(tmpdir(), 'ratchet-test-files-'));
  chmodSync(files, 0o755);
  process.env.RATCHET_TEST_FILES = files;
  try {
    await withClient(serverUrl(), (client) =>
      client.query(`CREATE DATABASE ${escapeIdentifier(template)}`),
    );
    await migrate(databaseUrl(template));
  } catch (error) {
    // Jest shows only the message of a failed global setup, so the cause goes into it.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `e2e setup could not build ${template} on ${describeServer()}: ${reason} ` +
        '(is Postgres running? TEST_DATABASE_URL selects another server)',
      { cause: error },
    );
  }
}

async function ensureServices(started: RunningService[]): Promise<void> {
  const log = (line: string): void => void process.stderr.write(`test setup: ${line}\n`);
  const needPostgres = !process.env.TEST_DATABASE_URL && !(await postgresAnswers(serverUrl()));
  const needRedis = !process.env.TEST_REDIS_URL && !(await redisAnswers('redis://127.0.0.1:6379'));
  if (needPostgres) {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'ratchet-test-'));
    // Reachable by the postgres user the cluster runs as when tests run as root.
    chmodSync(dataDir, 0o755);
    const postgres = await startEmbeddedPostgres(dataDir, log);
    started.push({
      url: postgres.url,
      stop: async () => {
        await postgres.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    });
    const url = new URL(postgres.url);
    url.pathname = '/postgres';
    process.env.TEST_DATABASE_URL = url.toString();
    log(`no Postgres on 127.0.0.1:5432; using an embedded one at ${url.host}`);
  }
  if (needRedis) {
    const redis = await startRedisServer(log);
    started.push(redis);
    process.env.TEST_REDIS_URL = redis.url;
    log(`no Redis on 127.0.0.1:6379; using a redis-server at ${redis.url}`);
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function redisAnswers(url: string): Promise<boolean> {
  try {
    return (await withShortRedis(url, (client) => client.ping())) === 'PONG';
  } catch {
    return false;
  }
}

/** host:port only: the URL may carry a password. */
function describeServer(): string {
  const url = new URL(serverUrl());
  return `${url.hostname || 'localhost'}:${url.port || '5432'}`;
}
