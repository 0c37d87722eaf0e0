import OpenAI from 'openai';
import { Client } from 'pg';
import { StepsRepository } from '@ratchet/store';
import { startFakeTools, type FakeTools, serverTool } from './support/fake-tools';
import { startRatchet, type TestRatchet } from './support/ratchet';

// A response's steps, scopes, input items and events go with it through a trigger on
// responses, not through foreign keys (migration 20261205080000_rows_go_with_their_response):
// whatever deletes responses, one or many at a time, deletes what they recorded, and nothing
// is recorded under a response that is gone.

let tools: FakeTools;
let ratchet: TestRatchet;
let client: OpenAI;
let db: Client;

const TABLES = ['steps', 'scopes', 'input_items', 'events'] as const;

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('response-rows', {
    configYaml: `
models:
  mock: { provider: mock }
tools:
  echo: { type: http, url: ${tools.url}/echo, parameters: { type: object } }
  helper: { type: agent, model: mock, tools: [echo] }
limits: { maxDepth: 8, maxIterations: 10 }
`,
  });
  client = ratchet.client(await ratchet.newKey());
  db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await ratchet?.close();
  await tools?.close();
});

/**
 * A streamed response with a sub-agent: a top scope and a child scope, each with steps, and
 * its event log.
 */
async function withSubAgent(): Promise<string> {
  const stream = await client.responses.create({
    model: 'mock',
    input: [
      '/call echo {"n":1}',
      `/call helper ${JSON.stringify({ input: '/call echo {"n":2}' })}`,
    ].join('\n'),
    tools: [serverTool('echo'), serverTool('helper')],
    stream: true,
  });
  let ended: OpenAI.Responses.Response | null = null;
  for await (const event of stream) {
    if (event.type === 'response.completed') ended = event.response;
  }
  expect(ended?.status).toBe('completed');
  return ended!.id;
}

async function rowsOf(id: string): Promise<Record<(typeof TABLES)[number], number>> {
  const counts = await Promise.all(
    TABLES.map(async (table) => {
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table} WHERE response_id = $1`,
        [id],
      );
      return [table, rows[0].n] as const;
    }),
  );
  return Object.fromEntries(counts) as Record<(typeof TABLES)[number], number>;
}

it('deletes what a response recorded with it, and only that', async () => {
  const [gone, kept] = [await withSubAgent(), await withSubAgent()];
  const before = await rowsOf(gone);
  // model, echo + helper, model at the top; model, echo, model in the sub-agent.
  const { events, ...rest } = before;
  expect(rest).toEqual({ steps: 7, scopes: 2, input_items: 1 });
  expect(events).toBeGreaterThan(10);
  const keptBefore = await rowsOf(kept);

  expect(await client.responses.delete(gone)).toMatchObject({ id: gone, deleted: true });

  expect(await rowsOf(gone)).toEqual({ steps: 0, scopes: 0, input_items: 0, events: 0 });
  expect(await rowsOf(kept)).toEqual(keptBefore);
  expect((await client.responses.retrieve(kept)).status).toBe('completed');
});

it('deletes what each response recorded when one statement deletes many', async () => {
  const ids = [await withSubAgent(), await withSubAgent(), await withSubAgent()];
  const { rowCount } = await db.query(`DELETE FROM responses WHERE id = ANY($1::text[])`, [ids]);
  expect(rowCount).toBe(3);
  for (const id of ids) {
    expect(await rowsOf(id)).toEqual({ steps: 0, scopes: 0, input_items: 0, events: 0 });
  }
});

it('opens no sub-agent scope under a response that is gone', async () => {
  const id = await withSubAgent();
  const { rows } = await db.query<{ id: string; parent_step_id: string }>(
    `SELECT id, parent_step_id FROM scopes WHERE response_id = $1 AND parent_step_id IS NOT NULL`,
    [id],
  );
  await client.responses.delete(id);

  await ratchet.api.get(StepsRepository).openChildScope({
    id: rows[0].id,
    responseId: id,
    parentStepId: rows[0].parent_step_id,
    depth: 1,
    model: 'mock',
    instructions: null,
    input: [],
    tools: { definitions: [], server: {} },
  });

  expect(await rowsOf(id)).toEqual({ steps: 0, scopes: 0, input_items: 0, events: 0 });
});
