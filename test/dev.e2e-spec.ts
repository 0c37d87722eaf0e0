import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import {
  freePort,
  repoRoot,
  startProcess,
  waitForOutput,
  type ServiceProcess,
} from './support/processes';

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

/** Starts the dev server, asks it what its printed curl line asks, and stops it. */
async function runDev(env: Record<string, string>, root = repoRoot): Promise<void> {
  const port = await freePort();
  dev = startProcess(
    'dist/apps/dev/main.js',
    { PORT: String(port), LOG_LEVEL: 'warn', ...env },
    [],
    root,
  );
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
}

it('starts on embedded services, answers the printed curl line, and stops them on SIGINT', async () => {
  await runDev({ RATCHET_DATA_DIR: dataDir });
});

// The common case in containers and cloud VMs: root, in a home directory nobody else may
// enter. Postgres then runs as another user, who can reach neither the checkout's binaries
// nor its data directory.
const asRoot = process.getuid?.() === 0 ? it : it.skip;

/** A built checkout at `checkout`, its node_modules hard-linked (copied where links cannot go). */
function copyCheckout(checkout: string): void {
  mkdirSync(checkout);
  try {
    execFileSync('cp', ['-al', path.join(repoRoot, 'node_modules'), checkout]);
  } catch {
    cpSync(path.join(repoRoot, 'node_modules'), path.join(checkout, 'node_modules'), {
      recursive: true,
    });
  }
  for (const part of ['dist', 'prisma', 'package.json']) {
    cpSync(path.join(repoRoot, part), path.join(checkout, part), { recursive: true });
  }
}

// A fresh checkout in a directory anyone may enter (/work, /srv, /opt): nothing under it
// yet, so the data directory the dev server makes must let Postgres's user through.
it('starts from a fresh checkout in a shared directory, keeping the cluster in it', async () => {
  const base = mkdtempSync(path.join(tmpdir(), 'ratchet-shared-'));
  chmodSync(base, 0o755);
  const checkout = path.join(base, 'checkout');
  try {
    copyCheckout(checkout);
    await runDev({}, checkout);
    expect(existsSync(path.join(checkout, '.data', 'postgres', 'PG_VERSION'))).toBe(true);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

asRoot(
  'starts as root from a checkout in a private directory with a space in its path',
  async () => {
    const base = mkdtempSync(path.join(tmpdir(), 'ratchet private '));
    chmodSync(base, 0o700);
    const checkout = path.join(base, 'my checkout');
    try {
      copyCheckout(checkout);
      await runDev({}, checkout);
    } finally {
      rmSync(base, { recursive: true, force: true });
      // The cluster that the private data directory could not hold (see embedded-services.ts).
      const key = createHash('sha256')
        .update(path.join(checkout, '.data'))
        .digest('hex')
        .slice(0, 12);
      rmSync(path.join(tmpdir(), `ratchet-dev-postgres-${key}`), { recursive: true, force: true });
    }
  },
);

it('names the cause and the fix in one line, without a stack trace, when it cannot start', async () => {
  const port = await freePort();
  dev = startProcess('dist/apps/dev/main.js', {
    RATCHET_DATA_DIR: dataDir,
    PORT: String(port),
    REDIS_SERVER_BINARY: path.join(dataDir, 'no-redis-server-here'),
  });
  expect(await dev.exited).toBe(1);
  const output = dev.output();
  expect(output).toMatch(
    /ratchet dev: cannot start: could not start \S+no-redis-server-here \(spawn .* ENOENT\); install it with 'apt-get install redis-server' or set REDIS_URL\n/,
  );
  expect(output).not.toMatch(/^\s+at /m);
});
