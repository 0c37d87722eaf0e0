import {
  collectStartupGarbage,
  limitHeapGrowth,
  resumeAfterStartup,
  useBaselineWasm,
} from './memory-profile';
import { ConfigError } from './ratchet-config';

/**
 * A reason a process cannot start that its user can act on: the message says the cause and
 * the fix in one line, and is all that is printed (a stack trace would only bury it).
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/**
 * Runs a process entry point: a configuration problem prints its message (file, path and
 * problem), and a StartupError its one line, and each exits 1 without a stack trace;
 * anything else prints the error and exits 1.
 */
export function runMain(name: string, main: () => Promise<string | void>): void {
  useBaselineWasm();
  limitHeapGrowth();
  main().then(
    (line) => {
      collectStartupGarbage();
      resumeAfterStartup();
      if (line) process.stdout.write(`ratchet ${name}: ${line}\n`);
    },
    (error: unknown) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`ratchet ${name}: configuration error\n${error.message}\n`);
      } else if (error instanceof StartupError) {
        process.stderr.write(`ratchet ${name}: cannot start: ${error.message}\n`);
      } else {
        process.stderr.write(
          `ratchet ${name}: failed to start\n${(error as Error)?.stack ?? String(error)}\n`,
        );
      }
      process.exit(1);
    },
  );
}
