import { inspect } from 'node:util';

/**
 * Polls `check` every `intervalMs` until it returns a truthy value, and resolves with it.
 * A check that throws has not succeeded yet: it is tried again, and on timeout the error
 * says what was awaited and the last error (or value) seen, so a failing test tells why.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 20_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: { error: unknown } | { value: unknown };
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() > deadline) {
      const seen =
        'error' in last
          ? `last error: ${last.error instanceof Error ? last.error.message : inspect(last.error)}`
          : `last value: ${inspect(last.value, { depth: 3, breakLength: Infinity })}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen})`, {
        cause: 'error' in last ? last.error : undefined,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
