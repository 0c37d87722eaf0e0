import { UpstreamError } from './provider';
import {
  backoffCeiling,
  DEFAULT_RETRY_POLICY,
  MAX_RETRY_AFTER_MS,
  type RetryPolicy,
  retryDelay,
} from './retry-policy';
import { upstreamErrorForStatus } from './upstream-errors';

const POLICY: RetryPolicy = {
  maxAttempts: 10,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  rateLimitFloorMs: 2_000,
};

const always = (value: number) => (): number => value;
/** The largest value Math.random can return, so ceilings are reached but never passed. */
const ALMOST_ONE = 1 - Number.EPSILON;

function serverError(retryAfterMs: number | null = null): UpstreamError {
  return upstreamErrorForStatus(503, 'Busy.', { retryAfterMs });
}

function rateLimited(retryAfterMs: number | null = null): UpstreamError {
  return upstreamErrorForStatus(429, 'Slow down.', { retryAfterMs });
}

describe('retryDelay', () => {
  it.each([
    ['a 400', upstreamErrorForStatus(400, 'Bad request.')],
    ['a 401', upstreamErrorForStatus(401, 'No key.')],
    [
      'a context length error',
      upstreamErrorForStatus(400, 'Too long.', { upstreamCode: 'context_length_exceeded' }),
    ],
    [
      'an exhausted quota, even with a Retry-After',
      upstreamErrorForStatus(429, 'No quota.', {
        upstreamCode: 'insufficient_quota',
        retryAfterMs: 1_000,
      }),
    ],
  ])('does not retry %s', (_label, error) => {
    expect(retryDelay(error, 1, POLICY, always(0.5))).toBeNull();
  });

  it('retries until maxAttempts attempts have been made, counting the first', () => {
    const policy = { ...POLICY, maxAttempts: 3 };

    expect(retryDelay(serverError(), 1, policy, always(0.5))).not.toBeNull();
    expect(retryDelay(serverError(), 2, policy, always(0.5))).not.toBeNull();
    expect(retryDelay(serverError(), 3, policy, always(0.5))).toBeNull();
    expect(retryDelay(serverError(), 1, { ...POLICY, maxAttempts: 1 }, always(0.5))).toBeNull();
  });

  it('retries connection failures and timeouts, which have no status', () => {
    const unreachable = new UpstreamError('ECONNREFUSED', {
      code: 'upstream_unreachable',
      retryable: true,
    });

    expect(retryDelay(unreachable, 1, POLICY, always(0.5))).toBe(250);
  });

  it('doubles the jitter ceiling per attempt, from the base up to the maximum', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffCeiling(attempt, POLICY));

    expect(ceilings).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
  });

  it('keeps the ceiling finite for absurd attempt numbers', () => {
    expect(backoffCeiling(5_000, POLICY)).toBe(30_000);
    expect(backoffCeiling(0, POLICY)).toBe(500);
  });

  it('jitters over the whole range below the ceiling (full jitter)', () => {
    for (const attempt of [1, 2, 3, 4, 5, 6, 7, 8, 9]) {
      const ceiling = backoffCeiling(attempt, POLICY);
      expect(retryDelay(serverError(), attempt, POLICY, always(0))).toBe(0);
      expect(retryDelay(serverError(), attempt, POLICY, always(ALMOST_ONE))).toBe(ceiling);
      expect(retryDelay(serverError(), attempt, POLICY, always(0.5))).toBe(ceiling / 2);
    }
  });

  it('grows exponentially for a fixed random draw', () => {
    const delays = [1, 2, 3, 4].map((attempt) =>
      retryDelay(serverError(), attempt, POLICY, always(0.25)),
    );

    expect(delays).toEqual([125, 250, 500, 1_000]);
  });

  it('uses the Retry-After as the delay, without jitter', () => {
    expect(retryDelay(serverError(1_500), 1, POLICY, always(0.9))).toBe(1_500);
    expect(retryDelay(serverError(0), 3, POLICY, always(0.9))).toBe(0);
  });

  it('honours a Retry-After above maxDelayMs, up to the hard cap', () => {
    expect(retryDelay(serverError(90_000), 1, POLICY, always(0.5))).toBe(90_000);
    expect(retryDelay(serverError(MAX_RETRY_AFTER_MS), 1, POLICY, always(0.5))).toBe(
      MAX_RETRY_AFTER_MS,
    );
  });

  it('gives up on a model that asks for a wait beyond the hard cap', () => {
    expect(retryDelay(serverError(MAX_RETRY_AFTER_MS + 1), 1, POLICY, always(0.5))).toBeNull();
  });

  it('still stops at maxAttempts when the upstream sent a Retry-After', () => {
    expect(retryDelay(serverError(100), 4, { ...POLICY, maxAttempts: 4 }, always(0))).toBeNull();
  });

  describe('rate limits', () => {
    it('never retries a 429 sooner than the floor, whatever the Retry-After says', () => {
      expect(retryDelay(rateLimited(0), 1, POLICY, always(0))).toBe(2_000);
      expect(retryDelay(rateLimited(500), 1, POLICY, always(0))).toBe(2_000);
    });

    it('honours a Retry-After longer than the floor', () => {
      expect(retryDelay(rateLimited(7_000), 1, POLICY, always(0))).toBe(7_000);
    });

    it('adds the jittered backoff on top of the floor, so throttled callers spread out', () => {
      expect(retryDelay(rateLimited(), 1, POLICY, always(0))).toBe(2_000);
      expect(retryDelay(rateLimited(), 1, POLICY, always(0.5))).toBe(2_250);
      expect(retryDelay(rateLimited(), 3, POLICY, always(ALMOST_ONE))).toBe(4_000);
    });

    it('caps floor plus jitter at maxDelayMs, but never goes below the floor', () => {
      const tight = { ...POLICY, maxDelayMs: 2_100 };
      expect(retryDelay(rateLimited(), 4, tight, always(0.9))).toBe(2_100);

      const floorAboveMax = { ...POLICY, maxDelayMs: 1_000, rateLimitFloorMs: 5_000 };
      expect(retryDelay(rateLimited(), 2, floorAboveMax, always(0.9))).toBe(5_000);
    });

    it('recognises a rate limit by its code when there is no status', () => {
      const error = new UpstreamError('Slow down.', {
        code: 'rate_limit_exceeded',
        retryable: true,
      });

      expect(retryDelay(error, 1, POLICY, always(0))).toBe(2_000);
    });
  });

  it('has defaults that retry a few times quickly and respect rate limits', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      maxAttempts: 4,
      baseDelayMs: 500,
      maxDelayMs: 30_000,
      rateLimitFloorMs: 2_000,
    });
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
  });
});
