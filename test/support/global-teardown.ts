import { dropDatabase } from './database';

/** Drops the run's template database, then stops the services global-setup started, if any. */
export default async function globalTeardown(): Promise<void> {
  const template = process.env.RATCHET_TEST_TEMPLATE;
  if (template) await dropDatabase(template).catch(() => undefined);
  for (const service of (globalThis.ratchetTestServices ?? []).reverse()) await service.stop();
}
