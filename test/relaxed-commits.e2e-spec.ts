import { Sql, type Statement } from '@ratchet/store';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { withClient } from './support/database';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';

// A commit waits for the disk unless nothing outside Postgres acts on it before a later
// commit that does (libs/store/src/relaxed-commit.sql.ts): the record of a foreground
// response, whose client hears of it only at its end, and a model call's claim, which only the
// worker acts on. Tool claims, ends and a response that a client is told of at once wait.
// Each statement of interest is first run in a transaction that is rolled back, to read the
// commit mode it leaves for its transaction (Postgres reads `synchronous_commit` at commit).

const WATCHED = new Set([
  'create-response',
  'append-first-round',
  'append-round',
  'finish-and-append',
  'finish-round-and-append',
  'finish-and-end',
  'finish-round-and-end',
]);

let tools: FakeTools;
let ratchet: TestRatchet;
let key: string;
/** Each watched statement run, in order, with the commit mode it set: 'on' or 'off'. */
let commits: { statement: string; mode: string }[] = [];

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('relaxed_commits', {
    configYaml: `
models:
  mock: { provider: mock }
tools:
  echo: { type: http, url: ${tools.url}/echo }
`,
  });
  key = await ratchet.newKey();
  for (const sql of [ratchet.api.get(Sql), ...ratchet.workers.map((worker) => worker.get(Sql))]) {
    const query = sql.query.bind(sql);
    jest.spyOn(sql, 'query').mockImplementation(async (statement, values = []) => {
      const name = statement.name.replace(/-batch$/, '');
      if (!WATCHED.has(name)) return query(statement, values);
      const mode = await commitMode(statement, values);
      const rows = await query(statement, values);
      // A new response's job is queued while the response is created, so the worker may look
      // for the response before it is committed, and look again (EngineService.startRecorded),
      // or send its first model call's outcome again (FirstTake.awaitRecord): what it found
      // then is not a commit of interest.
      const missing =
        name === 'append-first-round'
          ? rows.every((row) => !hasContext(row))
          : rows.every((row) => (row as { found?: boolean | null }).found === false);
      if (!missing) commits.push({ statement: statement.name, mode });
      return rows;
    });
  }
});

afterAll(async () => {
  await ratchet?.close();
  await tools?.close();
});

beforeEach(() => {
  commits = [];
});

function hasContext(row: object): boolean {
  return (row as { context?: unknown }).context != null;
}

/** The commit mode a statement leaves its transaction in, run in one rolled back. */
async function commitMode(statement: Statement, values: unknown[]): Promise<string> {
  return withClient(ratchet.database.url, async (client) => {
    await client.query('BEGIN');
    try {
      await client.query(statement.text, values);
      const { rows } = await client.query<{ mode: string }>(
        `SELECT current_setting('synchronous_commit') AS mode`,
      );
      return rows[0].mode;
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

const ECHO = { type: 'function', name: 'echo', parameters: null, strict: null };

async function create(body: Record<string, unknown>): Promise<Response> {
  const answer = await ratchet.request('/v1/responses', {
    key,
    method: 'POST',
    body: JSON.stringify({ model: 'mock', ...body }),
  });
  expect(answer.status).toBe(200);
  return answer;
}

it('does not wait for the disk for a foreground response, nor for its model calls', async () => {
  const answer = await create({
    input: '/call echo {"a":1}\n/call echo {"b":2}',
    tools: [ECHO],
  });
  expect(((await answer.json()) as { status: string }).status).toBe('completed');
  expect(commits.map(({ mode }) => mode)).toEqual(['off', 'on', 'off', 'on']);
  const [created, toolsClaimed, modelClaimed, ended] = commits.map((c) => c.statement);
  // Its client hears nothing before the end; its first model call is recorded with it, for
  // the worker alone to act on.
  expect(created).toBe('create-response');
  // The model's outcome and the tool calls it asked for: the tools act on it.
  expect(toolsClaimed).toBe('finish-and-append');
  // The next model call: with the tools' outcomes when they came together (as they do here,
  // unless the machine is slow enough to miss the round's hold), else after them, alone.
  expect(['finish-round-and-append', 'append-round']).toContain(modelClaimed);
  // The end, which the client hears of.
  expect(ended).toBe('finish-and-end');
  expect(tools.calls).toHaveLength(2);
});

it('waits for the disk for every tool call of a sequential loop, and nothing else', async () => {
  await create({ input: '/rounds 2\n/call echo {"n":1}', tools: [ECHO] });
  expect(commits.map(({ statement, mode }) => `${statement} ${mode}`)).toEqual([
    'create-response off',
    'finish-and-append on',
    'finish-and-append off',
    'finish-and-append on',
    'finish-and-append off',
    'finish-and-end on',
  ]);
});

it('waits for the disk for a response its client is told of at once', async () => {
  const background = (await (await create({ input: 'Later.', background: true })).json()) as {
    id: string;
    status: string;
  };
  expect(background.status).toBe('queued');
  await waitForResponse(ratchet.client(key), background.id);
  await create({ input: 'Streamed.', stream: true }).then((answer) => answer.text());
  const created = commits.filter(({ statement }) => statement === 'create-response');
  expect(created).toEqual([
    { statement: 'create-response', mode: 'on' },
    { statement: 'create-response', mode: 'on' },
  ]);
});

it('leaves the server setting alone after a relaxed commit', async () => {
  await create({ input: 'Hello.' });
  expect(commits[0]).toEqual({ statement: 'create-response', mode: 'off' });
  // The API's connections commit as the server says once that transaction is over.
  const { rows } = await ratchet.api
    .get(Sql)
    .pool.query<{ mode: string }>(`SELECT current_setting('synchronous_commit') AS mode`);
  expect(rows[0].mode).toBe('on');
});
