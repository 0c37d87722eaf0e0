import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export { freePort } from '../../apps/dev/src/free-port';

// Real ratchet processes from the build (dist/), started the way deployments start them.

export const repoRoot = path.resolve(__dirname, '..', '..');

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything the process wrote so far, stdout and stderr. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startProcess(
  script: string,
  env: Record<string, string>,
  args: string[] = [],
  /** The checkout to run it from. */
  root = repoRoot,
  /** Node's own options, before the script (as a compose service's command has them). */
  nodeArgs: string[] = [],
): ServiceProcess {
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, script), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    output: () => output,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `url` until it answers 200, the process dies, or the deadline passes. */
export async function waitForReady(
  url: string,
  service: ServiceProcess,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) {
      throw new Error(
        `process exited (${service.child.exitCode}) before ready:\n${service.output()}`,
      );
    }
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms:\n${service.output()}`);
}

/**
 * Resolves once `service` printed `text`, with what matched (a pattern's groups too);
 * throws if it exits or the deadline passes first.
 */
export async function waitForOutput(
  service: ServiceProcess,
  text: string | RegExp,
  timeoutMs = 20_000,
): Promise<string[]> {
  const find = (output: string) =>
    typeof text === 'string' ? (output.includes(text) ? [text] : null) : output.match(text);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = find(service.output());
    if (match) return match;
    if (service.child.exitCode !== null || Date.now() > deadline) {
      const lines = service.output().trimEnd().split('\n').slice(-30).join('\n');
      throw new Error(`no '${text}' in the output:\n${lines}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A worker process from the build, resolved once it takes jobs. If it never does, it is
 * killed before the error is thrown, so nothing is left running.
 */
export async function startWorkerProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const worker = startProcess('dist/apps/worker/main.js', env);
  try {
    await waitForOutput(worker, 'processing jobs');
  } catch (error) {
    await worker.stop('SIGKILL');
    throw error;
  }
  return worker;
}

/** The worker processes a test file starts as it goes, on one shared environment. */
export class WorkerProcesses {
  readonly all: ServiceProcess[] = [];

  /** `env` is read at each start: it may name what `beforeAll` has yet to set up. */
  constructor(private readonly env: () => Record<string, string>) {}

  /** One more worker, with `env` over the shared environment. */
  async start(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const worker = await startWorkerProcess({ ...this.env(), ...env });
    this.all.push(worker);
    return worker;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.all.map((worker) => worker.stop('SIGKILL')));
  }
}
