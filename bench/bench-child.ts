// The child's side of a bench process that bench-process.ts forks (a floor worker, a peer):
// its settings from the environment, its `ready`, and a stop that cannot hang.

const CLOSE_DEADLINE_MS = 3_000;

/** An environment variable the parent sets. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/**
 * Says `ready` to the parent, then stops on SIGTERM or once the parent is gone: `close` lets
 * go of what the process holds, and a hard exit follows after a deadline, so that a bench
 * process never outlives the bench.
 */
export function serveUntilStopped(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), CLOSE_DEADLINE_MS).unref();
    void close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  process.send?.({ type: 'ready' });
}

/** Runs a bench process's main; a failure is reported and the process exits 1. */
export function runBenchChild(what: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    process.stderr.write(`${what} failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
