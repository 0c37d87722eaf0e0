import { startRatchet, type TestRatchet } from './support/ratchet';
import { freePort } from './support/processes';

// /readyz tells which dependency is missing; /healthz only that the process answers.

let ratchet: TestRatchet;

beforeAll(async () => {
  // Nothing listens on this port: Redis is "down" for this API from the start.
  const port = await freePort();
  ratchet = await startRatchet('readiness', {
    workers: 0,
    env: { REDIS_URL: `redis://127.0.0.1:${port}` },
  });
});

afterAll(() => ratchet?.close());

it('answers 503 naming Redis when Redis does not answer, while /healthz stays up', async () => {
  const ready = await ratchet.request('/readyz', { key: null });
  expect(ready.status).toBe(503);
  expect(await ready.json()).toEqual({
    status: 'unavailable',
    postgres: 'ok',
    redis: 'unavailable',
  });

  const health = await ratchet.request('/healthz', { key: null });
  expect(health.status).toBe(200);
});
