import { RatchetError } from '@ratchet/core';
import { durationSeconds, parsePurge, parseResponseFilter } from './admin.schemas';

describe('durationSeconds', () => {
  it.each([
    ['45s', 45],
    ['90m', 5_400],
    ['12h', 43_200],
    ['30d', 2_592_000],
    ['0d', 0],
    [3600, 3600],
    [0, 0],
  ])('reads %p as %p seconds', (value, seconds) => {
    expect(durationSeconds(value)).toBe(seconds);
  });

  it.each(['30', '3 weeks', '1w', '-1d', 'd', '', ' 5m'])('refuses %p', (value) => {
    expect(durationSeconds(value)).toBeNull();
  });

  it('refuses negative and fractional seconds', () => {
    expect(durationSeconds(-1)).toBeNull();
    expect(durationSeconds(1.5)).toBeNull();
  });
});

describe('parsePurge', () => {
  it('defaults to a real purge of at most 10000', () => {
    expect(parsePurge({ older_than: '1h' })).toEqual({
      olderThanSeconds: 3600,
      dryRun: false,
      limit: 10_000,
    });
  });
});

describe('parseResponseFilter', () => {
  const refusal = (body: unknown): RatchetError => {
    try {
      parseResponseFilter(body);
    } catch (error) {
      return error as RatchetError;
    }
    throw new Error('accepted');
  };

  it('needs something to select, or all: true', () => {
    expect(refusal({ dry_run: true })).toMatchObject({ param: 'all', code: 'missing_filter' });
    expect(refusal({ stuck: false })).toMatchObject({ param: 'all', code: 'missing_filter' });
    expect(parseResponseFilter({ all: true })).toEqual({ all: true });
    expect(parseResponseFilter({ stuck: true, limit: 5 })).toEqual({ stuck: true, limit: 5 });
  });

  it('takes live statuses only', () => {
    expect(refusal({ status: ['cancelled'] })).toMatchObject({ param: 'status[0]' });
  });
});
