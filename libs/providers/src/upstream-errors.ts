import { UpstreamError } from './provider';

// How an upstream HTTP failure is classified. Every provider (and the mock's `/fail`) goes
// through here, so the retry policy sees the same codes whatever the upstream.

/** Statuses where the same request may succeed later. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

const CONTEXT_LENGTH_MESSAGE =
  /context[ _-]?length|context window|maximum context|too many tokens|prompt is too long/i;

export interface UpstreamFailureDetails {
  /** The upstream's own error code (OpenAI's `error.code`), when it sent one. */
  upstreamCode?: string | null;
  retryAfterMs?: number | null;
}

/**
 * The UpstreamError for a non-2xx answer: the message and code the provider read from its
 * error body (null when the body said nothing it understood), and any Retry-After.
 */
export function upstreamHttpError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  upstream: { message: string; code: string | null } | null,
): UpstreamError {
  return upstreamErrorForStatus(
    status,
    upstream?.message ?? `The upstream model answered HTTP ${status}.`,
    { upstreamCode: upstream?.code ?? null, retryAfterMs: parseRetryAfter(headers) },
  );
}

/** The UpstreamError for an HTTP error status with the upstream's message. */
export function upstreamErrorForStatus(
  status: number,
  message: string,
  details: UpstreamFailureDetails = {},
): UpstreamError {
  const upstreamCode = details.upstreamCode ?? null;
  // OpenAI answers 429 both for rate limits and for an exhausted quota; only the first
  // clears up by waiting, so retrying the second would just burn attempts.
  const quotaExhausted = status === 429 && upstreamCode === 'insufficient_quota';
  return new UpstreamError(message, {
    code: quotaExhausted ? 'insufficient_quota' : codeForStatus(status, message, upstreamCode),
    status,
    retryable: isRetryableStatus(status) && !quotaExhausted,
    retryAfterMs: details.retryAfterMs ?? null,
  });
}

function codeForStatus(status: number, message: string, upstreamCode: string | null): string {
  if (status === 429) return 'rate_limit_exceeded';
  if (status === 401 || status === 403) return 'upstream_auth_error';
  if (
    status === 400 &&
    (upstreamCode === 'context_length_exceeded' || CONTEXT_LENGTH_MESSAGE.test(message))
  ) {
    return 'context_length_exceeded';
  }
  return 'upstream_error';
}

type HeaderValue = string | string[] | undefined;

/**
 * How long the upstream asked us to wait, in ms: OpenAI's `retry-after-ms`, else
 * `Retry-After` as delay-seconds or an HTTP date. Null when absent or unreadable.
 */
export function parseRetryAfter(
  headers: Record<string, HeaderValue>,
  now: number = Date.now(),
): number | null {
  const milliseconds = firstHeader(headers['retry-after-ms']);
  if (milliseconds !== null && /^\d+(\.\d+)?$/.test(milliseconds)) {
    return Math.round(Number(milliseconds));
  }
  const value = firstHeader(headers['retry-after']);
  if (value === null) return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function firstHeader(value: HeaderValue): string | null {
  const first = Array.isArray(value) ? value[0] : value;
  const trimmed = first?.trim();
  return trimmed ? trimmed : null;
}
