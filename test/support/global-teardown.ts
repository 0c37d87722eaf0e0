import { rmSync } from 'node:fs';
import { deleteRedisKeys } from '../../bench/machine';
import { dropDatabase } from './database';
import { testRedisUrl } from './redis-prefix';

/**
 * Drops the run's template database, deletes its Redis keys (test/support/redis-prefix.ts) and
 * its files, then stops the services global-setup started, if any.
 */
export default async function globalTeardown(): Promise<void> {
  const template = process.env.RATCHET_TEST_TEMPLATE;
  if (template) await dropDatabase(template).catch(() => undefined);
  const prefix = process.env.RATCHET_TEST_REDIS_PREFIX;
  if (prefix) await deleteRedisKeys(testRedisUrl(), prefix).catch(() => 0);
  const files = process.env.RATCHET_TEST_FILES;
  if (files) rmSync(files, { recursive: true, force: true });
  for (const service of (globalThis.ratchetTestServices ?? []).reverse()) await service.stop();
}
