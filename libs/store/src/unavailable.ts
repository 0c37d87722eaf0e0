/**
 * Whether an error means Postgres could not be reached or dropped the connection (as opposed
 * to a query that failed): socket errors, SQLSTATE classes 08 (connection exception) and 57P
 * (operator intervention: shutdown, restart), 53300 (too many connections: the server turned
 * a new one away) and node-postgres's own messages for a dead connection. Looks through
 * `cause` chains, where a wrapping error keeps the driver's.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 5) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (/^(08|57P|53300$)/.test(code) || SYSTEM_CODES.has(code))) {
    return true;
  }
  if (DEAD_CONNECTION.test(error.message)) return true;
  if (
    error instanceof AggregateError &&
    error.errors.some((e) => isDatabaseUnavailable(e, depth + 1))
  ) {
    return true;
  }
  return isDatabaseUnavailable(error.cause, depth + 1);
}

const SYSTEM_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

const DEAD_CONNECTION =
  /Connection terminated|not queryable|Connection ended|timeout exceeded when trying to connect|the database system is (starting up|shutting down)/i;
