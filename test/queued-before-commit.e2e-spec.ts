import type { LoggerService } from '@nestjs/common';
import type OpenAI from 'openai';
import { topScopeId } from '@ratchet/store';
import { JobQueue } from '@ratchet/queue';
import { queryRows, withClient } from './support/database';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { checkSse, eventsFromSse } from './support/stream-checker';
import { waitFor } from './support/wait';

// A new response's job goes to the queue while the statement creating the response runs, so
// a worker may take the job before the response is there (JobQueue, `beforeCommit`). Here
// every create of the model `slow-create` is held for 400 ms by a trigger, long after the
// worker has taken its job; recovery is set far beyond the tests' timeouts, so only the
// worker's wait for the response can run it.

const CREATE_HOLD_MS = 400;

/** The warnings ratchet logs, as text. */
class Warnings implements LoggerService {
  readonly seen: string[] = [];
  log(): void {}
  error(): void {}
  warn(message: unknown): void {
    this.seen.push(typeof message === 'string' ? message : JSON.stringify(message));
  }
}

const warnings = new Warnings();
let ratchet: TestRatchet;
let client: OpenAI;
let key: string;

beforeAll(async () => {
  ratchet = await startRatchet('before-commit', {
    configYaml: `
models:
  mock: { provider: mock }
  slow-create: { provider: mock }
`,
    env: { RATCHET_SWEEP_INTERVAL_MS: '60000', RATCHET_SWEEP_GRACE_MS: '600000' },
    logger: warnings,
  });
  await withClient(ratchet.database.url, (pg) =>
    pg.query(`
      CREATE FUNCTION hold_create() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.model = 'slow-create' THEN PERFORM pg_sleep(${CREATE_HOLD_MS / 1000}); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER hold_create BEFORE INSERT ON responses
        FOR EACH ROW EXECUTE FUNCTION hold_create();`),
  );
  key = await ratchet.newKey();
  client = ratchet.client(key);
});

afterAll(async () => {
  await ratchet?.close();
});

async function stepsOf(id: string): Promise<{ kind: string; attempt: number }[]> {
  return queryRows(
    ratchet.database.url,
    `SELECT kind::text AS kind, attempt FROM steps WHERE response_id = $1 ORDER BY created_at`,
    [id],
  );
}

it('runs a foreground response whose job the worker took before the response was committed', async () => {
  const started = Date.now();
  const response = await client.responses.create({ model: 'slow-create', input: 'hello' });
  expect(Date.now() - started).toBeGreaterThanOrEqual(CREATE_HOLD_MS);
  expect(response.status).toBe('completed');
  expect(response.output_text).toBe('You said: hello');
  // One model call, run once: the job that found nothing yet did not record one of its own.
  expect(await stepsOf(response.id)).toEqual([{ kind: 'model_call', attempt: 1 }]);
});

it('runs background and streamed responses created the same way', async () => {
  const queued = await client.responses.create({
    model: 'slow-create',
    input: 'in the background',
    background: true,
  });
  expect(queued.status).toBe('queued');

  const stream = await ratchet.request('/v1/responses', {
    key,
    method: 'POST',
    body: JSON.stringify({ model: 'slow-create', input: 'streamed', stream: true }),
  });
  const text = await stream.text();
  expect(checkSse(text)).toEqual([]);
  const events = eventsFromSse(text).events as { type: string }[];
  expect(events.at(-1)?.type).toBe('response.completed');

  const done = await waitFor(
    'the background response to complete',
    async () => {
      const current = await client.responses.retrieve(queued.id);
      return current.status === 'completed' ? current : null;
    },
    10_000,
  );
  expect(done.output_text).toBe('You said: in the background');
});

it('ends a job whose response never comes after its waits, with a warning, and runs nothing', async () => {
  const id = 'resp_neverrecorded0000000000000000';
  await ratchet.api
    .get(JobQueue)
    .advance({ responseId: id, scopeId: topScopeId(id), beforeCommit: true }, 'start');
  await waitFor('the worker to give the job up', () =>
    warnings.seen.some((warning) => warning.includes(id)),
  );
  expect(warnings.seen.find((warning) => warning.includes(id))).toContain('still not recorded');
  expect(await stepsOf(id)).toEqual([]);
});
