import { inputItemOf, ResponsesRepository, Sql } from '@ratchet/store';
import { Client } from 'pg';
import { TerminalWaits } from '../apps/api/src/responses/terminal-waits';
import { startRatchet, type TestRatchet } from './support/ratchet';

// A foreground request waits for its response's terminal notice; lost notices are made up
// for by one query a second for all of a process's waiting requests, never one per request.

let ratchet: TestRatchet;
let key: string;
const calls = { findById: 0, findEnded: 0 };

/** SQL: an input item of response `r` holds text LIKE `pattern` (SQL). */
const inputHolds = (pattern: string): string =>
  `EXISTS (SELECT 1 FROM input_items i
            WHERE i.response_id = r.id AND (${inputItemOf('i')})::text LIKE ${pattern})`;

beforeAll(async () => {
  ratchet = await startRatchet('foreground_waits');
  key = await ratchet.newKey();
  const responses = ratchet.api.get(ResponsesRepository);
  for (const name of ['findById', 'findEnded'] as const) {
    const original = responses[name].bind(responses) as (...args: unknown[]) => unknown;
    (responses as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      calls[name] += 1;
      return original(...args);
    };
  }
});
afterAll(() => ratchet?.close());

const create = (input: string): Promise<Response> =>
  ratchet.request('/v1/responses', {
    key,
    method: 'POST',
    body: JSON.stringify({ model: 'mock', input }),
  });

it('keeps 150 waiting requests at about one query a second in all', async () => {
  calls.findById = 0;
  calls.findEnded = 0;
  const startedAt = Date.now();
  const answers = await Promise.all(
    Array.from({ length: 150 }, (_, i) => create(`/sleep 2500\nWait ${i}`)),
  );
  const seconds = (Date.now() - startedAt) / 1000;
  expect(answers.every((answer) => answer.status === 200)).toBe(true);
  const bodies = (await Promise.all(answers.map((answer) => answer.json()))) as {
    status: string;
  }[];
  expect(bodies.every((body) => body.status === 'completed')).toBe(true);
  // Woken by their notices: no per-request reads, and one check a second at most.
  expect(calls.findById).toBe(0);
  expect(calls.findEnded).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
});

/** The id of the response in progress whose input holds `text`, once there is one. */
async function runningWith(db: Client, text: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rows } = await db.query<{ id: string }>(
      `SELECT id FROM responses r WHERE status = 'in_progress' AND ${inputHolds('$1')}`,
      [`%${text}%`],
    );
    if (rows[0]) return rows[0].id;
    if (Date.now() > deadline) throw new Error(`no response in progress with '${text}'`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

it('wakes a request whose terminal notice was lost, within about a second', async () => {
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const waiting = create('/sleep 6000\nNever mind.');
    // The response runs (its model call sleeps); end it behind the workers' backs, as a
    // worker that died after writing the end but before publishing it would leave it.
    const id = await runningWith(db, 'Never mind.');
    const endedAt = Date.now();
    await db.query(
      `UPDATE responses SET status = 'failed', completed_at = now(),
              error = '{"code":"server_error","message":"Ended by the test."}' WHERE id = $1`,
      [id],
    );
    const answer = await waiting;
    expect(Date.now() - endedAt).toBeLessThan(3000);
    expect(((await answer.json()) as { status: string }).status).toBe('failed');
  } finally {
    await db.end();
  }
});

it('ends the wait of a request whose response no longer exists, with a 503', async () => {
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const waiting = create('/sleep 6000\nGone soon.');
    // Deleted while it runs; a Postgres that crashed before a relaxed commit reached the disk
    // (libs/store/src/relaxed-commit.sql.ts) would lose it the same way.
    const id = await runningWith(db, 'Gone soon.');
    const deletedAt = Date.now();
    await db.query('DELETE FROM responses WHERE id = $1', [id]);
    const answer = await waiting;
    expect(Date.now() - deletedAt).toBeLessThan(3000);
    expect(answer.status).toBe(503);
    const body = (await answer.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('response_gone');
    expect(body.error.message).toContain(id);
  } finally {
    await db.end();
  }
});

/** Counts every connection the API's one Postgres pool hands out, whatever the query. */
function countApiCheckouts(): { count: number; stop(): void } {
  const pool = ratchet.api.get(Sql).pool;
  const counter = { count: 0, stop: () => pool.off('acquire', count) };
  const count = (): void => void (counter.count += 1);
  pool.on('acquire', count);
  return counter;
}

it('sends Postgres nothing per waiting request: at most the shared check, once a second', async () => {
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  const checkouts = countApiCheckouts();
  try {
    const marker = `Quiet ${Date.now()}`;
    const waiting = Promise.all(
      Array.from({ length: 100 }, (_, i) => create(`/sleep 6000\n${marker} ${i}`)),
    );
    // Once every response is recorded, the API has sent all it needed to create them.
    const deadline = Date.now() + 10_000;
    let recorded = 0;
    while (recorded < 100 && Date.now() < deadline) {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM responses r WHERE ${inputHolds('$1')}`,
        [`%${marker}%`],
      );
      recorded = rows[0].n;
      if (recorded < 100) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(recorded).toBe(100);
    const before = checkouts.count;
    const startedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const seconds = (Date.now() - startedAt) / 1000;
    // 100 requests that each polled would send 100 queries a second or more.
    expect(checkouts.count - before).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    const answers = await waiting;
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
  } finally {
    checkouts.stop();
    await db.end();
  }
});

it('stops waiting for clients that leave, and their responses run to their end', async () => {
  // The responses the API is waiting on for its requests (a private field).
  const waiters = Reflect.get(ratchet.api.get(TerminalWaits), 'waiters') as Map<string, unknown>;
  const marker = `Leaving ${Date.now()}`;
  const clients = Array.from({ length: 20 }, () => new AbortController());
  const requests = clients.map((client, i) =>
    ratchet
      .request('/v1/responses', {
        key,
        method: 'POST',
        body: JSON.stringify({ model: 'mock', input: `/sleep 8000\n${marker} ${i}` }),
        signal: client.signal,
      })
      .then(
        () => 'answered',
        (error: Error) => error.name,
      ),
  );
  const waiting = (): number => waiters.size;
  await until(() => waiting() >= 20, 10_000);
  for (const client of clients) client.abort();
  expect(await Promise.all(requests)).toEqual(clients.map(() => 'AbortError'));
  // Each wait ends as its exchange closes, long before its response does: nothing of the
  // departed requests stays registered.
  await until(() => waiting() === 0, 3_000);
  expect(waiting()).toBe(0);
  const db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
  try {
    const statuses = async (): Promise<string[]> =>
      (
        await db.query<{ status: string }>(
          `SELECT status FROM responses r WHERE ${inputHolds('$1')}`,
          [`%${marker}%`],
        )
      ).rows.map((row) => row.status);
    await until(async () => (await statuses()).every((status) => status === 'completed'), 20_000);
    expect(await statuses()).toEqual(clients.map(() => 'completed'));
  } finally {
    await db.end();
  }
});

/** Polls `done` every 50 ms until it holds or `ms` pass. */
async function until(done: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
