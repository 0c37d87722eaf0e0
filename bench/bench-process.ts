import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { withDeadline } from './waits';

// A process of the bench's own (a floor worker, a peer), forked from a script beside this
// file once compiled. It says it is ready with its first IPC message, and stops on SIGTERM.

const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

export interface BenchProcess {
  child: ChildProcess;
  pid: number;
  /** SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
  stop(): Promise<void>;
}

/** Forks `script` with `env` (and PATH) and waits for its first message. */
export async function forkBenchProcess(
  script: string,
  env: Record<string, string>,
): Promise<BenchProcess> {
  const child: ChildProcess = fork(path.join(__dirname, script), [], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  try {
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
      }),
      READY_TIMEOUT_MS,
      `${script} start`,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { child, pid: child.pid ?? -1, stop };
}
