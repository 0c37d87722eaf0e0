/** Stops the embedded services global-setup started, if it started any. */
export default async function globalTeardown(): Promise<void> {
  for (const service of (globalThis.ratchetTestServices ?? []).reverse()) await service.stop();
}
