import { randomBytes } from 'node:crypto';

// Every ratchet a test starts keeps its Redis keys under a prefix of its own, inside the test
// run's: global-setup names the run's (RATCHET_TEST_REDIS_PREFIX) and global-teardown deletes
// every key under it, so a run leaves the shared Redis as it found it, and runs of several
// checkouts at once never see each other's queues.

/** The Redis tests use: TEST_REDIS_URL (set by global-setup if it starts one), else the local one. */
export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
}

/** The test run's prefix, for global-setup to set and global-teardown to clear. */
export function newRunRedisPrefix(): string {
  return `ratchet-test-${randomBytes(4).toString('hex')}`;
}

/** A new RATCHET_REDIS_PREFIX for one ratchet of a test, named after it. */
export function testRedisPrefix(name: string): string {
  const run = process.env.RATCHET_TEST_REDIS_PREFIX;
  if (!run)
    throw new Error('RATCHET_TEST_REDIS_PREFIX is not set: e2e tests run under global-setup');
  return `${run}:${name}:${randomBytes(4).toString('hex')}`;
}
