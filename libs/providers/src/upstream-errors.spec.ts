import { UpstreamError } from './provider';
import { isRetryableStatus, parseRetryAfter, upstreamErrorForStatus } from './upstream-errors';

describe('isRetryableStatus', () => {
  it.each([408, 409, 429, 500, 502, 503, 504])('retries %i', (status) => {
    expect(isRetryableStatus(status)).toBe(true);
  });

  it.each([400, 401, 403, 404, 413, 422])('does not retry %i', (status) => {
    expect(isRetryableStatus(status)).toBe(false);
  });
});

describe('upstreamErrorForStatus', () => {
  it('recognises context length errors by the upstream code as well as the message', () => {
    const error = upstreamErrorForStatus(400, 'Input too large.', {
      upstreamCode: 'context_length_exceeded',
    });

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'context_length_exceeded', status: 400, retryable: false });
  });

  it('keeps the retry delay', () => {
    const error = upstreamErrorForStatus(503, 'Busy.', { retryAfterMs: 1_500 });

    expect(error).toMatchObject({ code: 'upstream_error', retryable: true, retryAfterMs: 1_500 });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delay-seconds, including fractions', () => {
    expect(parseRetryAfter({ 'retry-after': '2' }, now)).toBe(2_000);
    expect(parseRetryAfter({ 'retry-after': '0.5' }, now)).toBe(500);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }, now)).toBe(30_000);
    expect(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, now)).toBe(0);
  });

  it("prefers OpenAI's retry-after-ms", () => {
    expect(parseRetryAfter({ 'retry-after-ms': '250', 'retry-after': '1' }, now)).toBe(250);
  });

  it('gives null when the header is absent or unreadable', () => {
    expect(parseRetryAfter({}, now)).toBeNull();
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeNull();
    expect(parseRetryAfter({ 'retry-after': '' }, now)).toBeNull();
  });
});
