import { Client } from 'pg';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { eventsFromSse } from './support/stream-checker';

// Idempotency-Key on POST /v1/responses: a retried request gets the response the first one
// made, whatever state it is in; a key reused for another request is refused.

let ratchet: TestRatchet;
let key: string;

beforeAll(async () => {
  ratchet = await startRatchet('idempotency', {
    env: { RATCHET_IDEMPOTENCY_TTL_MS: '1500' },
  });
  key = await ratchet.newKey();
});

afterAll(async () => {
  await ratchet?.close();
});

function post(body: unknown, idempotencyKey: string | null, apiKey = key): Promise<Response> {
  return ratchet.request('/v1/responses', {
    method: 'POST',
    key: apiKey,
    body: JSON.stringify(body),
    headers: idempotencyKey === null ? {} : { 'idempotency-key': idempotencyKey },
  });
}

interface ResponseBody {
  id: string;
  status: string;
  output: { content?: { text: string }[] }[];
}

async function json<T = ResponseBody>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

async function responsesWithKey(idempotencyKey: string): Promise<number> {
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const { rows } = await db.query<{ count: string }>(
      'SELECT count(*) FROM responses WHERE idempotency_key = $1',
      [idempotencyKey],
    );
    return Number(rows[0].count);
  } finally {
    await db.end();
  }
}

it('returns the same background response to a retried request, while it runs and after', async () => {
  const body = { model: 'mock', input: '/sleep 300\nhi', background: true, metadata: { a: '1' } };
  const first = await post(body, 'key-background');
  expect(first.status).toBe(200);
  expect(first.headers.get('idempotent-replayed')).toBeNull();
  const created = await json(first);

  // The same request with its keys in another order is the same request.
  const again = await post(
    { metadata: { a: '1' }, background: true, input: '/sleep 300\nhi', model: 'mock' },
    'key-background',
  );
  expect(again.status).toBe(200);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  const replayed = await json(again);
  expect(replayed.id).toBe(created.id);
  expect(['queued', 'in_progress']).toContain(replayed.status);
  expect(await responsesWithKey('key-background')).toBe(1);
});

it('refuses the same key with a different request, naming the header', async () => {
  await json(await post({ model: 'mock', input: 'one' }, 'key-conflict'));
  const other = await post({ model: 'mock', input: 'two' }, 'key-conflict');
  expect(other.status).toBe(409);
  const { error } = await json<{ error: { param: string; code: string; message: string } }>(other);
  expect(error.param).toBe('Idempotency-Key');
  expect(error.code).toBe('idempotency_key_reused');
  expect(error.message).toContain('different request');
});

it('creates one response for concurrent requests with one key', async () => {
  const body = { model: 'mock', input: '/sleep 200\nrace' };
  const answers = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const response = await post(body, 'key-race');
      expect(response.status).toBe(200);
      return json(response);
    }),
  );
  expect(new Set(answers.map((answer) => answer.id)).size).toBe(1);
  expect(answers.every((answer) => answer.status === 'completed')).toBe(true);
  expect(await responsesWithKey('key-race')).toBe(1);
});

it('keeps keys per API key, and forgets them after the configured time', async () => {
  const body = { model: 'mock', input: 'hello' };
  const mine = await json(await post(body, 'key-shared'));
  const theirs = await json(await post(body, 'key-shared', await ratchet.newKey('other')));
  expect(theirs.id).not.toBe(mine.id);

  await new Promise((resolve) => setTimeout(resolve, 1600));
  const later = await json(await post({ model: 'mock', input: 'a new request' }, 'key-shared'));
  expect(later.id).not.toBe(mine.id);
  expect(later.output[0].content?.[0].text).toBe('You said: a new request');
});

it('streams the first request’s events again to a retried streamed request', async () => {
  const body = { model: 'mock', input: 'stream me', stream: true };
  const first = eventsFromSse(await (await post(body, 'key-stream')).text()).events;
  const retried = await post(body, 'key-stream');
  expect(retried.headers.get('idempotent-replayed')).toBe('true');
  expect(eventsFromSse(await retried.text()).events).toEqual(first);
});

it('rejects a malformed key', async () => {
  const response = await post({ model: 'mock', input: 'x' }, 'x'.repeat(256));
  expect(response.status).toBe(400);
  const { error } = await json<{ error: { param: string } }>(response);
  expect(error.param).toBe('Idempotency-Key');
});
