import OpenAI from 'openai';
import { Client } from 'pg';
import { outputOf, STORED_ITEMS_SQL } from '@ratchet/store';
import { startFakeTools, type FakeTools, serverTool } from './support/fake-tools';
import { startRatchet, type TestRatchet } from './support/ratchet';

// A response's stored output references the steps that hold its items (compactOutput in
// @ratchet/core), and Postgres puts the items back on read (outputOf in @ratchet/store,
// migration 20261205060000_output_refs). Whatever reads the output, clients see exactly what the
// response ended with.

let tools: FakeTools;
let ratchet: TestRatchet;
let client: OpenAI;
let key: string;
let db: Client;

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('stored-output', {
    configYaml: `
models:
  mock: { provider: mock }
tools:
  echo: { type: http, url: ${tools.url}/echo, parameters: { type: object } }
  broken: { type: http, url: ${tools.url}/fail }
limits: { maxDepth: 8, maxIterations: 10 }
`,
  });
  key = await ratchet.newKey();
  client = ratchet.client(key);
  db = new Client({ connectionString: ratchet.database.url });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await ratchet?.close();
  await tools?.close();
});

/** model -> echo, echo, broken -> model. */
function fanOut(): Promise<OpenAI.Responses.Response> {
  return client.responses.create({
    model: 'mock',
    input: ['/call echo {"n":1}', '/call echo {"n":2}', '/call broken {}'].join('\n'),
    tools: [serverTool('echo'), serverTool('broken')],
  });
}

async function stored(id: string): Promise<{ output: unknown[]; bytes: number; whole: number }> {
  const { rows } = await db.query<{ output: unknown[]; bytes: number; whole: number }>(
    `SELECT output, pg_column_size(output) AS bytes,
            pg_column_size(${outputOf('r')}) AS whole
       FROM responses r WHERE id = $1`,
    [id],
  );
  return rows[0];
}

it('stores references to the steps, and reads back the very output the response ended with', async () => {
  const response = await fanOut();
  expect(response.status).toBe('completed');
  expect(response.output.map((item) => item.type)).toEqual([
    'mcp_call',
    'mcp_call',
    'mcp_call',
    'message',
  ]);

  const row = await stored(response.id);
  // The two echoes are references with their tool step; the failed call keeps its outcome;
  // the answer is the model step's item.
  expect(row.output).toEqual([
    { $c: '0:0:0', $t: '1:0', server_label: 'http', name: 'echo' },
    { $c: '0:0:1', $t: '1:1', server_label: 'http', name: 'echo' },
    expect.objectContaining({ $c: '0:0:2', status: 'failed', output: null }),
    { $m: '2:0:0' },
  ]);
  expect(row.bytes).toBeLessThan(row.whole / 2);

  const again = await client.responses.retrieve(response.id);
  expect(again.output).toEqual(response.output);
});

it('finds stored items and server calls by the ids the output shows', async () => {
  const response = await fanOut();
  const calls = response.output.filter(
    (item): item is OpenAI.Responses.ResponseOutputItem.McpCall => item.type === 'mcp_call',
  );
  const answer = response.output.find((item) => item.type === 'message');
  const ids = [...calls.map((call) => call.id), answer!.id];

  const owner = (
    await db.query<{ owner_id: string }>('SELECT owner_id FROM responses WHERE id = $1', [
      response.id,
    ])
  ).rows[0].owner_id;
  const byId = await db.query<{ id: string; item: unknown }>(STORED_ITEMS_SQL.byIds.text, [
    [...ids, 'msg_nowhere'],
    owner,
  ]);
  expect(new Map(byId.rows.map((row) => [row.id, row.item]))).toEqual(
    new Map(ids.map((id) => [id, response.output.find((item) => item.id === id)])),
  );

  const byCallId = await db.query<{ call_id: string; item: unknown }>(
    STORED_ITEMS_SQL.serverCallsByCallIds.text,
    [calls.map((call) => (call as unknown as { call_id: string }).call_id), owner],
  );
  expect(byCallId.rows.map((row) => row.item)).toEqual(expect.arrayContaining(calls));
  expect(byCallId.rows).toHaveLength(calls.length);
});

it('continues a response from its stored output as from the same output stored whole', async () => {
  const [referenced, whole] = [await fanOut(), await fanOut()];
  await db.query(`UPDATE responses r SET output = ${outputOf('r')} WHERE id = $1`, [whole.id]);
  expect((await stored(whole.id)).output).toEqual(whole.output);
  const [fromReferenced, fromWhole] = await Promise.all(
    [referenced, whole].map((previous) =>
      client.responses.create({
        model: 'mock',
        input: 'and then?',
        previous_response_id: previous.id,
      }),
    ),
  );
  // The mock counts the text of every item it is given: the two histories are alike but for
  // their random ids, which it does not count.
  expect(fromReferenced.status).toBe('completed');
  expect(fromReferenced.usage!.input_tokens).toBe(fromWhole.usage!.input_tokens);
  const alone = await client.responses.create({ model: 'mock', input: 'and then?' });
  expect(fromReferenced.usage!.input_tokens).toBeGreaterThan(alone.usage!.input_tokens + 50);
});

it("keeps the request without its input, which the response's input items hold", async () => {
  const response = await fanOut();
  const { rows } = await db.query<{ request: Record<string, unknown>; items: number }>(
    `SELECT request, (SELECT count(*)::int FROM input_items WHERE response_id = r.id) AS items
       FROM responses r WHERE id = $1`,
    [response.id],
  );
  expect(rows[0].request).not.toHaveProperty('input');
  expect(rows[0].request).toMatchObject({
    model: 'mock',
    tools: [serverTool('echo'), serverTool('broken')],
  });
  expect(rows[0].items).toBe(1);
  const items = await client.responses.inputItems.list(response.id);
  expect(items.data).toHaveLength(1);
});

it('reads output stored whole, as before references, as it is', async () => {
  const whole = [{ type: 'message', id: 'msg_old', role: 'assistant', content: [] }];
  const { rows } = await db.query<{ output: unknown }>(
    `SELECT ${outputOf('r')} AS output
       FROM (SELECT $1::text AS id, $2::jsonb AS output) r`,
    ['resp_0123456789abcdef01234567', JSON.stringify(whole)],
  );
  expect(rows[0].output).toEqual(whole);
});

describe('input items', () => {
  const message = (id: string, text: string): OpenAI.Responses.EasyInputMessage =>
    ({ type: 'message', id, role: 'user', content: text }) as OpenAI.Responses.EasyInputMessage;
  const byReference = async (id: string): Promise<boolean[]> => {
    const { rows } = await db.query<{ by_reference: boolean }>(
      `SELECT item IS NULL AS by_reference FROM input_items WHERE response_id = $1
        ORDER BY position`,
      [id],
    );
    return rows.map((row) => row.by_reference);
  };
  const texts = async (id: string): Promise<unknown[]> =>
    (await client.responses.inputItems.list(id, { order: 'asc' })).data.map((item) => [
      item.id,
      (item as { content?: { text?: string }[] }).content?.[0]?.text,
    ]);

  it("stores them once, as the top scope's input holds them, and reads them back as sent", async () => {
    const first = await client.responses.create({
      model: 'mock',
      input: [message('msg_in_one', 'one'), message('msg_in_two', 'two')],
    });
    expect(await byReference(first.id)).toEqual([true, true]);
    expect(await texts(first.id)).toEqual([
      ['msg_in_one', 'one'],
      ['msg_in_two', 'two'],
    ]);
    // Descending, from a cursor: the other reads of the list.
    const after = await client.responses.inputItems.list(first.id, {
      order: 'desc',
      after: 'msg_in_two',
    });
    expect(after.data.map((item) => item.id)).toEqual(['msg_in_one']);

    // A continuation's top scope starts from the history: its own items are still its last.
    const next = await client.responses.create({
      model: 'mock',
      previous_response_id: first.id,
      input: [message('msg_in_three', 'three')],
    });
    expect(await byReference(next.id)).toEqual([true]);
    expect(await texts(next.id)).toEqual([['msg_in_three', 'three']]);

    // An item_reference to one of them resolves to the item as sent.
    const referring = await client.responses.create({
      model: 'mock',
      input: [{ type: 'item_reference', id: 'msg_in_one' }, message('msg_in_four', 'four')],
    });
    expect(referring.status).toBe('completed');
    expect(await texts(referring.id)).toEqual([
      ['msg_in_one', 'one'],
      ['msg_in_four', 'four'],
    ]);
  });
});
