import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { createTestDatabase, type TestDatabase } from './support/database';
import {
  freePort,
  repoRoot,
  startProcess,
  waitForReady,
  type ServiceProcess,
} from './support/processes';
import { REDIS_URL, writeConfig } from './support/ratchet';
import { testRedisPrefix } from './support/redis-prefix';

// The deployment contract: `start:api` and `start:worker` as separate processes configured
// only through DATABASE_URL, REDIS_URL, PORT, RATCHET_CONFIG and RATCHET_ADMIN_KEY; the
// keys CLI; and startup refusing a broken config with a message that says where.

const run = promisify(execFile);

let database: TestDatabase;
const started: ServiceProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase('processes');
});

afterAll(async () => {
  await Promise.all(started.map((service) => service.stop('SIGKILL')));
  await database?.drop();
});

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    REDIS_URL,
    RATCHET_REDIS_PREFIX: testRedisPrefix('processes'),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

it('serves SDK calls with the api and two workers as separate processes', async () => {
  const port = await freePort();
  const adminKey = `admin-${randomBytes(12).toString('hex')}`;
  const env = baseEnv({
    PORT: String(port),
    RATCHET_ADMIN_KEY: adminKey,
    RATCHET_CONFIG: writeConfig('models:\n  scripted: { provider: mock }\n'),
  });
  const api = startProcess('dist/apps/api/main.js', env);
  const workers = [0, 1].map(() => startProcess('dist/apps/worker/main.js', env));
  started.push(api, ...workers);
  await waitForReady(`http://127.0.0.1:${port}/readyz`, api);

  const { stdout } = await run(
    process.execPath,
    [path.join(repoRoot, 'dist/libs/store/src/keys.cli.js'), 'create', '--name', 'e2e tenant'],
    { env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url } },
  );
  const secret = stdout.trim().split('\n').pop() ?? '';
  expect(secret).toMatch(/^rk-[A-Za-z0-9_-]{43}$/);

  const client = new OpenAI({
    apiKey: secret,
    baseURL: `http://127.0.0.1:${port}/v1`,
    maxRetries: 0,
  });
  const responses = await Promise.all(
    [1, 2, 3, 4].map((n) => client.responses.create({ model: 'scripted', input: `request ${n}` })),
  );
  expect(responses.map((response) => response.output_text)).toEqual([
    'You said: request 1',
    'You said: request 2',
    'You said: request 3',
    'You said: request 4',
  ]);

  const admin = new OpenAI({
    apiKey: adminKey,
    baseURL: `http://127.0.0.1:${port}/v1`,
    maxRetries: 0,
  });
  expect((await admin.responses.retrieve(responses[0].id)).status).toBe('completed');

  expect(await api.stop()).toBe(0);
  await Promise.all(workers.map(async (worker) => expect(await worker.stop()).toBe(0)));
});

it('refuses to start on a broken config, naming the file, the path and the problem', async () => {
  const file = writeConfig('models:\n  m:\n    provider: mock\n    temprature: 0.3\n');
  const api = startProcess('dist/apps/api/main.js', baseEnv({ RATCHET_CONFIG: file }));
  started.push(api);
  expect(await api.exited).toBe(1);
  expect(api.output()).toContain(`${file}: models.m: unknown key 'temprature'`);
});

it('refuses to start without DATABASE_URL and REDIS_URL, pointing at npm run dev', async () => {
  const worker = startProcess('dist/apps/worker/main.js', { LOG_LEVEL: 'warn' });
  started.push(worker);
  expect(await worker.exited).toBe(1);
  expect(worker.output()).toContain('DATABASE_URL and REDIS_URL must be set');
  expect(worker.output()).toContain('npm run dev');
});
