import { itemEvents, ItemStreamer, responseEvent, type ResponseObject } from '@ratchet/core';
import { EventsRepository, ResponsesRepository, Sql } from '@ratchet/store';
import { createTestDatabase, type TestDatabase, withClient } from './support/database';
import { textDelta as delta } from '../libs/core/src/testing/events';

// The event log's store against real Postgres: numbering under concurrency, once-only
// appends, and the close that ends a log.

let database: TestDatabase;
let sql: Sql;
let events: EventsRepository;
let responses: ResponsesRepository;
let owner: string;

beforeAll(async () => {
  database = await createTestDatabase('event_log');
  sql = new Sql(database.url, 20);
  events = new EventsRepository(sql);
  responses = new ResponsesRepository(sql);
  owner = await withClient(database.url, async (client) => {
    await client.query(
      `INSERT INTO api_keys (id, name, key_hash, prefix) VALUES ('key_log', 'log', 'h', 'p')`,
    );
    return 'key_log';
  });
});

afterAll(async () => {
  await sql?.onModuleDestroy();
  await database?.drop();
});

let counter = 0;

async function newResponse(): Promise<{ id: string; response: ResponseObject }> {
  const id = `resp_log${++counter}`;
  let created: ResponseObject | null = null;
  await responses.create({
    id,
    ownerId: owner,
    model: 'mock',
    request: { model: 'mock', input: 'hi', stream: true },
    inputItems: [],
    context: [],
    tools: { definitions: [], server: {} },
    deadlineAt: new Date(Date.now() + 60_000),
    events: (record) => {
      created = {
        id: record.id,
        status: 'in_progress',
        output: [],
      } as unknown as ResponseObject;
      return [responseEvent('response.created', created)];
    },
  });
  return { id, response: created! };
}

async function numbers(id: string): Promise<number[]> {
  return (await events.after(id, -1, 100_000)).map((event) => event.sequence);
}

describe('the event log', () => {
  it('numbers concurrent appends from 0, gap-free, in commit order', async () => {
    const { id } = await newResponse();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => events.append(id, [delta(`a${i}`), delta(`b${i}`)])),
    );
    const logged = await events.after(id, -1, 1000);
    expect(logged.map((event) => event.sequence)).toEqual(Array.from({ length: 81 }, (_, i) => i));
    for (const event of logged) {
      const parsed = JSON.parse(event.data) as { type: string; sequence_number: number };
      expect(parsed.sequence_number).toBe(event.sequence);
      expect(parsed.type).toBe(event.type);
    }
    // A batch stays together: b follows its a.
    const texts = logged
      .slice(1)
      .map((event) => (JSON.parse(event.data) as { delta: string }).delta);
    for (let i = 0; i < texts.length; i += 2) {
      expect(texts[i + 1]).toBe(`b${texts[i].slice(1)}`);
    }
  });

  it('logs a step once however many jobs race to log it', async () => {
    const { id } = await newResponse();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        events.appendOnce(id, [delta('x'), delta('y')], { stepId: 'step_once' }),
      ),
    );
    expect(results.filter((result) => result !== null && result.length > 0)).toHaveLength(1);
    expect(await numbers(id)).toEqual([0, 1, 2]);
  });

  it('counts the items a scope announced, for the next output_index', async () => {
    const { id } = await newResponse();
    const scopeId = `scope_${id.slice(5)}`;
    const item = {
      type: 'function_call_output' as const,
      id: 'fco_1',
      call_id: 'call_1',
      output: 'ok',
      status: 'completed' as const,
    };
    expect(await events.nextOutputIndex(scopeId)).toBe(0);
    await events.append(id, itemEvents(0, item), { items: { scopeId, count: 1 } });
    await events.append(id, itemEvents(1, { ...item, id: 'fco_2' }), {
      items: { scopeId, count: 1 },
    });
    expect(await events.nextOutputIndex(scopeId)).toBe(2);
  });

  it('closes open items before the terminal event, then refuses everything', async () => {
    const { id, response } = await newResponse();
    const streamer = new ItemStreamer();
    await events.append(id, streamer.textDelta(0, 'msg_1', 'Hello '));
    await events.append(id, streamer.textDelta(0, 'msg_1', 'wor'));
    const closed = await events.close(
      id,
      responseEvent('response.cancelled', { ...response, status: 'cancelled' }),
    );
    expect(closed!.map((event) => event.type)).toEqual([
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.cancelled',
    ]);
    const done = JSON.parse(closed![2].data) as { item: { status: string; content: unknown } };
    expect(done.item.status).toBe('incomplete');
    expect(done.item.content).toEqual([
      { type: 'output_text', text: 'Hello wor', annotations: [], logprobs: [] },
    ]);
    expect(await events.append(id, [delta('late')])).toBeNull();
    expect(await events.close(id, closed![3] as never)).toBeNull();
    const all = await numbers(id);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i));
  });
});
