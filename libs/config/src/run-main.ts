import { ConfigError } from './ratchet-config';

/**
 * Runs a process entry point: a configuration problem prints its message (file, path and
 * problem) and exits 1 without a stack trace; anything else prints the error and exits 1.
 */
export function runMain(name: string, main: () => Promise<string | void>): void {
  main().then(
    (line) => {
      if (line) process.stdout.write(`ratchet ${name}: ${line}\n`);
    },
    (error: unknown) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`ratchet ${name}: configuration error\n${error.message}\n`);
      } else {
        process.stderr.write(
          `ratchet ${name}: failed to start\n${(error as Error)?.stack ?? String(error)}\n`,
        );
      }
      process.exit(1);
    },
  );
}
