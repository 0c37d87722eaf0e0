import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

// A Postgres cluster of a test's own, from the machine's server binaries, for what must not
// happen to the shared one: a crash (`pg_ctl stop -m immediate`, which loses the WAL that
// was not flushed, as a power cut would) and a start again. Run as the `postgres` user when
// the tests run as root (initdb refuses root), as the test's own user otherwise.

export interface PrivatePostgres {
  /** URL of `database` on it. */
  url(database: string): string;
  /** Stops it as a crash does: no checkpoint, WAL buffers never written. */
  crash(): void;
  /** Starts it again, returning once it accepts connections (after crash recovery). */
  start(): void;
  /** Stops it and deletes its files. */
  remove(): void;
}

/** The newest installed server's bin directory, or null if there is none. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  const dir = versions
    .map((version) => path.join(root, version, 'bin'))
    .find((bin) => existsSync(path.join(bin, 'initdb')));
  return dir ?? null;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a new cluster with these `settings` (name to value). */
export async function startPrivatePostgres(
  bin: string,
  settings: Record<string, string>,
): Promise<PrivatePostgres> {
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(tmpdir(), 'ratchet-pg-'));
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const run = (command: string, args: string[]): void => {
    const file = path.join(bin, command);
    execFileSync(root ? 'runuser' : file, root ? ['-u', 'postgres', '--', file, ...args] : args, {
      stdio: 'ignore',
      timeout: 60_000,
    });
  };
  const data = path.join(dir, 'data');
  const port = await freePort();
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
  ].join(' ');
  const start = (): void =>
    run('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', 'start']);
  start();
  return {
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    crash: () => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']),
    start,
    remove: () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Stopped already.
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
