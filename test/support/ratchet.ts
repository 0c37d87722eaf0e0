import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { INestApplication, INestApplicationContext, LoggerService } from '@nestjs/common';
import { createApiApp } from '@ratchet/api';
import { AppConfig } from '@ratchet/config';
import { ApiKeysRepository } from '@ratchet/store';
import { createWorkerApp } from '@ratchet/worker';
import OpenAI from 'openai';
import { createTestDatabase, type TestDatabase } from './database';
import { testRedisPrefix, testRedisUrl } from './redis-prefix';

// Boots a real ratchet for a test file: its own database and Redis prefix, the API on a
// free port and a worker, both in this process but as separate Nest apps with their own
// connections, just as `start:api` and `start:worker` would run them.

export const REDIS_URL = testRedisUrl();

export interface TestRatchet {
  url: string;
  /** The API app, to reach its providers. */
  api: INestApplication;
  /** The in-process worker apps, to reach theirs. */
  workers: INestApplicationContext[];
  database: TestDatabase;
  adminKey: string;
  env: Record<string, string>;
  /** A new tenant key (each test makes its own instead of sharing state). */
  newKey(name?: string): Promise<string>;
  client(key: string): OpenAI;
  /** fetch against the API with a bearer key (or none). */
  request(pathname: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

/** Writes a config file into the run's own directory, which global-teardown removes. */
export function writeConfig(yaml: string): string {
  const dir = process.env.RATCHET_TEST_FILES ?? tmpdir();
  const file = path.join(dir, `ratchet-test-${randomBytes(6).toString('hex')}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

export async function startRatchet(
  name: string,
  options: {
    configYaml?: string;
    env?: Record<string, string>;
    workers?: number;
    /** Where the API's and workers' logs go (else errors and warnings to the console). */
    logger?: LoggerService;
  } = {},
): Promise<TestRatchet> {
  const database = await createTestDatabase(name);
  const adminKey = `admin-${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    REDIS_URL,
    RATCHET_REDIS_PREFIX: testRedisPrefix(name),
    RATCHET_ADMIN_KEY: adminKey,
    PORT: '0',
    LOG_LEVEL: 'warn',
    ...(options.configYaml ? { RATCHET_CONFIG: writeConfig(options.configYaml) } : {}),
    ...options.env,
  };
  const config = AppConfig.fromEnvironment(env);
  const logger = options.logger ?? (['error', 'warn'] as never);
  const api: INestApplication = await createApiApp(config, { logger });
  await api.listen(0, '127.0.0.1');
  const workers: INestApplicationContext[] = [];
  for (let i = 0; i < (options.workers ?? 1); i++) {
    workers.push(await createWorkerApp(config, { logger }));
  }
  const url = (await api.getUrl()).replace('[::1]', '127.0.0.1');
  const keys = api.get(ApiKeysRepository);

  return {
    url,
    api,
    workers,
    database,
    adminKey,
    env,
    newKey: async (keyName = 'tenant') => (await keys.create(keyName)).secret,
    client: (key) =>
      new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0, timeout: 30_000 }),
    request: (pathname, init = {}) => {
      const { key, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key !== null) headers.set('authorization', `Bearer ${key ?? adminKey}`);
      if (rest.body && !headers.has('content-type'))
        headers.set('content-type', 'application/json');
      return fetch(`${url}${pathname}`, { ...rest, headers });
    },
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()));
      await api.close();
      await database.drop();
    },
  };
}
