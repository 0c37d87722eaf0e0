import type { UpstreamError } from './provider';

/** How hard one model is retried before its caller gives up on it (or moves to a fallback). */
export interface RetryPolicy {
  /** Attempts per model, the first one included; 1 means never retry. */
  maxAttempts: number;
  /** The backoff ceiling of the first retry; each further retry doubles it. */
  baseDelayMs: number;
  /** The backoff ceiling never grows past this (an upstream's Retry-After may; see below). */
  maxDelayMs: number;
  /** A rate-limited (429) attempt is never retried sooner than this. */
  rateLimitFloorMs: number;
}

/**
 * Four attempts wait at most about 0.5 s, 1 s and 2 s between them for ordinary failures;
 * rate limits wait at least 2 s, since a quota window rarely clears in less.
 */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  rateLimitFloorMs: 2_000,
});

/**
 * The longest Retry-After we wait out. Upstreams may ask for more than `maxDelayMs` and we
 * honour that (retrying sooner would only be refused again), but past this the model is
 * effectively down: waiting would hold the response (and a worker) for no good reason, so we
 * give up on the model and let a fallback answer instead.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/**
 * How long to wait before trying again after `attempt` (1-based: the attempt that just
 * failed) failed with `error`; null means do not retry (the error is not retryable, the
 * attempts are used up, or the upstream asked for a wait longer than MAX_RETRY_AFTER_MS).
 *
 * - Backoff is exponential with full jitter — uniform in [0, min(maxDelay, base * 2^(n-1))] —
 *   so callers that failed together do not come back together.
 * - An upstream's Retry-After is used as the delay as it stands: it is the one signal that
 *   actually knows when the upstream will take us again.
 * - A 429 never waits less than the floor. Without a Retry-After the jittered backoff is added
 *   on top of the floor rather than clamped to it, as clamping would send every throttled
 *   caller back at the very same moment.
 *
 * Pure: `random` (uniform in [0, 1), like Math.random) is injected so tests are exact.
 */
export function retryDelay(
  error: UpstreamError,
  attempt: number,
  policy: RetryPolicy,
  random: () => number,
): number | null {
  if (!error.retryable || attempt >= policy.maxAttempts) return null;
  const rateLimited = isRateLimit(error);
  if (error.retryAfterMs !== null) {
    if (error.retryAfterMs > MAX_RETRY_AFTER_MS) return null;
    return rateLimited ? Math.max(error.retryAfterMs, policy.rateLimitFloorMs) : error.retryAfterMs;
  }
  const jittered = Math.round(random() * backoffCeiling(attempt, policy));
  if (!rateLimited) return jittered;
  return Math.max(
    policy.rateLimitFloorMs,
    Math.min(policy.rateLimitFloorMs + jittered, policy.maxDelayMs),
  );
}

/** The upper bound of the jittered wait after `attempt` failed: base * 2^(attempt-1), capped. */
export function backoffCeiling(attempt: number, policy: RetryPolicy): number {
  // Exponent clamped so a huge attempt number cannot overflow to Infinity before the cap.
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
}

function isRateLimit(error: UpstreamError): boolean {
  return error.status === 429 || error.code === 'rate_limit_exceeded';
}
