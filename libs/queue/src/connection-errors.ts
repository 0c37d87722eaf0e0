import type { Logger } from '@nestjs/common';

/** A lost Redis connection is reported once per this interval, not once per retry. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * A listener for BullMQ's `error` events. Connections retry by themselves and /readyz
 * reports an outage to whoever asks, so the log gets one line per interval.
 */
export function connectionErrorLogger(logger: Logger, what: string): (error: Error) => void {
  let lastLoggedAt = 0;
  return (error) => {
    const now = Date.now();
    if (now - lastLoggedAt < ERROR_LOG_INTERVAL_MS) return;
    lastLoggedAt = now;
    logger.warn(`${what} connection: ${error.message}`);
  };
}
