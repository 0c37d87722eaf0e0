/** Something that can be closed, such as a Nest application. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * On SIGTERM or SIGINT, closes the app (workers stop taking jobs and finish the running
 * ones, connections close) and exits 0; if that takes longer than `deadlineMs`, exits 1
 * anyway, since a stuck shutdown would otherwise hold a deploy forever. Work that did not
 * finish is recovered by another worker.
 */
export function exitOnSignals(
  app: Closable,
  options: {
    deadlineMs: number;
    /** Called at the signal, before closing starts (a worker schedules its hand-back). */
    onSignal?: () => void;
    onStop?: () => Promise<void>;
    log?: (line: string) => void;
  },
): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    options.log?.(`${signal}: shutting down`);
    options.onSignal?.();
    const timer = setTimeout(() => {
      options.log?.(`shutdown did not finish within ${options.deadlineMs} ms; exiting`);
      process.exit(1);
    }, options.deadlineMs);
    timer.unref();
    app
      .close()
      .then(() => options.onStop?.())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          options.log?.(`shutdown failed: ${String(error)}`);
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
