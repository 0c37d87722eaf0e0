import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { freePort, startProcess, type ServiceProcess } from './support/processes';

// The newcomer's path: `npm run dev` with nothing configured starts an embedded Postgres
// and a redis-server, prints a working key and curl line, and Ctrl-C stops all of it.

let dataDir: string;
let dev: ServiceProcess | undefined;

beforeAll(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'ratchet-dev-'));
});

afterAll(async () => {
  await dev?.stop('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function waitForOutput(
  service: ServiceProcess,
  pattern: RegExp,
  timeoutMs: number,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = service.output().match(pattern);
    if (match) return match;
    if (service.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no ${pattern} in output:\n${service.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

it('starts on embedded services, answers the printed curl line, and stops them on SIGINT', async () => {
  const port = await freePort();
  dev = startProcess('dist/apps/dev/src/main.js', {
    RATCHET_DATA_DIR: dataDir,
    PORT: String(port),
    LOG_LEVEL: 'warn',
  });
  const [, curl] = await waitForOutput(dev, /\n(curl -s \S+ .*)\n/, 60_000);
  const key = /Bearer (rk-[A-Za-z0-9_-]+)/.exec(curl)?.[1] ?? '';
  const redisPort = Number(/redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(dev.output())?.[1]);
  const postgresPort = Number(/embedded Postgres at \S+:(\d+)\//.exec(dev.output())?.[1]);
  expect(curl).toContain(`http://127.0.0.1:${port}/v1/responses`);

  const body = /-d '(.*)'$/.exec(curl)?.[1] ?? '';
  const answer = await fetch(`http://127.0.0.1:${port}/v1/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
  });
  expect(answer.status).toBe(200);
  expect(await answer.json()).toMatchObject({ status: 'completed', object: 'response' });

  const client = new OpenAI({ apiKey: key, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
  const response = await client.responses.create({ model: 'mock', input: 'from the SDK' });
  expect(response.output_text).toBe('You said: from the SDK');

  expect(await dev.stop('SIGINT')).toBe(0);
  expect(await portOpen(redisPort)).toBe(false);
  expect(await portOpen(postgresPort)).toBe(false);
});
