import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Agent, run, setDefaultOpenAIClient, setTracingDisabled } from '@openai/agents';
import OpenAI from 'openai';
import { ResponsesRepository, Sql, STORED_ITEMS_SQL } from '@ratchet/store';
import { chatCompletion, startFakeOpenAI, type FakeOpenAI } from './support/fake-openai';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { hasEnded } from './support/response-status';
import { waitFor } from './support/wait';

// item_reference input items and OpenAI's Conversations API, end to end: the official SDK
// and plain HTTP against the real API and worker, real Postgres and Redis, and a real HTTP
// server standing in for an OpenAI-compatible upstream (to see the context a model gets).

/** An item as the API returns it, loosely. */
interface Item {
  id: string;
  type: string;
  role?: string;
  call_id?: string;
  content?: { text?: string }[];
  [key: string]: unknown;
}

/** A JSON body as the API returns it, loosely: each endpoint fills the fields it has. */
interface Body {
  id: string;
  status: string;
  output: Item[];
  data: Item[];
  conversation?: { id: string };
  error: { message: string; type: string; param: string | null; code: string | null };
  [key: string]: unknown;
}

/** A node of a JSON query plan. */
interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

let upstream: FakeOpenAI;
let ratchet: TestRatchet;
let key: string;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  ratchet = await startRatchet('conversations', {
    configYaml: `
models:
  mock: { provider: mock }
  upstream:
    provider: openai-chat
    baseUrl: ${upstream.url}
    upstreamModel: upstream-model
`,
  });
  key = await ratchet.newKey();
  client = ratchet.client(key);
});

afterAll(async () => {
  await ratchet?.close();
  await upstream?.close();
});

/** A request with a bearer key (the test tenant's unless given); the status and JSON body. */
async function call(
  method: string,
  path: string,
  body?: unknown,
  as: string = key,
): Promise<{ status: number; body: Body }> {
  const response = await ratchet.request(path, {
    method,
    key: as,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Body };
}

async function ok(method: string, path: string, body?: unknown, as?: string): Promise<Body> {
  const answer = await call(method, path, body, as);
  if (answer.status !== 200) {
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/** Polls a response until it is terminal. */
function settled(id: string, as: string = key): Promise<Body> {
  return waitFor(
    `${id} to end`,
    async () => {
      const response = await ok('GET', `/v1/responses/${id}`, undefined, as);
      if (!hasEnded(response.status)) throw new Error(`${id} still ${response.status}`);
      return response;
    },
    15_000,
  );
}

/** Polls a response's steps until its first one has this status. */
async function waitForStep(id: string, status: string): Promise<void> {
  await waitFor(
    `a ${status} first step of ${id}`,
    async () => {
      const progress = await ok('GET', `/v1/responses/${id}/steps`);
      const steps = (progress.steps ?? []) as { status: string }[];
      if (steps[0]?.status !== status) throw new Error(`steps: ${JSON.stringify(progress)}`);
      return true;
    },
    15_000,
  );
}

/** Every item of a conversation, oldest first. */
async function itemsOf(conversationId: string, as: string = key): Promise<Item[]> {
  const page = await ok(
    'GET',
    `/v1/conversations/${conversationId}/items?order=asc&limit=100`,
    undefined,
    as,
  );
  return page.data;
}

/** What an item says: a message's text with its role, or the item's type. */
function gist(item: Item): string {
  if (item.type !== 'message') return item.type;
  const text = (item.content ?? []).map((part) => part.text ?? '').join('');
  return `${item.role}: ${text}`;
}

const userMessage = (text: string) => ({ role: 'user', content: text });

describe('item_reference input items', () => {
  it("resolve to earlier responses' input and output items, in place", async () => {
    const first = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: '/think Pondering.\nMy name is Ada.',
    });
    const [reasoning, answer] = first.output;
    expect([reasoning.type, answer.type]).toEqual(['reasoning', 'message']);
    const [question] = (await ok('GET', `/v1/responses/${first.id}/input_items`)).data;

    const before = upstream.requests.length;
    const second = await ok('POST', '/v1/responses', {
      model: 'upstream',
      input: [
        { type: 'item_reference', id: question.id },
        { type: 'item_reference', id: reasoning.id },
        { id: answer.id }, // OpenAI lets a reference leave out its type
        userMessage('What is my name?'),
      ],
    });

    expect(second.status).toBe('completed');
    expect(upstream.requests[before].body.messages).toEqual([
      { role: 'user', content: '/think Pondering.\nMy name is Ada.' },
      { role: 'assistant', content: 'You said: My name is Ada.' },
      { role: 'user', content: 'What is my name?' },
    ]);
    const inputItems = (await ok('GET', `/v1/responses/${second.id}/input_items?order=asc`)).data;
    expect(inputItems.slice(0, 3)).toEqual([question, reasoning, answer]);
  });

  it('resolve function calls, so a client can send the output of a call made earlier', async () => {
    const first = await client.responses.create({
      model: 'mock',
      input: '/call get_time {"zone":"UTC"}',
      tools: [{ type: 'function', name: 'get_time', parameters: null, strict: null }],
    });
    const [functionCall] = first.output as OpenAI.Responses.ResponseFunctionToolCall[];
    expect(functionCall).toMatchObject({ type: 'function_call', name: 'get_time' });

    const second = await client.responses.create({
      model: 'mock',
      input: [
        { type: 'item_reference', id: functionCall.id! },
        { type: 'function_call_output', call_id: functionCall.call_id, output: '12:00' },
      ],
    });
    expect(second.output_text).toBe('get_time: 12:00');
  });

  it('resolve many references in one request, as the AI SDK sends every earlier item', async () => {
    // Each turn sends the user messages again and refers to every earlier answer by id.
    const history: unknown[] = [];
    for (let turn = 1; turn <= 20; turn++) {
      history.push(userMessage(`Message ${turn}`));
      const response = await ok('POST', '/v1/responses', { model: 'mock', input: history });
      expect(gist(response.output[0])).toBe(`assistant: You said: Message ${turn}`);
      history.push({ type: 'item_reference', id: response.output[0].id });
    }
    history.push(userMessage('And now?'));

    const before = upstream.requests.length;
    const last = await ok('POST', '/v1/responses', { model: 'upstream', input: history });

    expect(last.status).toBe('completed');
    const messages = upstream.requests[before].body.messages as unknown[];
    expect(messages).toHaveLength(41);
    expect(messages.slice(0, 4)).toEqual([
      { role: 'user', content: 'Message 1' },
      { role: 'assistant', content: 'You said: Message 1' },
      { role: 'user', content: 'Message 2' },
      { role: 'assistant', content: 'You said: Message 2' },
    ]);
    expect(messages[39]).toEqual({ role: 'assistant', content: 'You said: Message 20' });
  });

  it('carry a multi-turn exchange of the Vercel AI SDK, which refers to every stored item', async () => {
    const { answers, requests } = await aiSdkTurns('stored', [
      '/think Hmm.\nFirst',
      '/call get_time {}',
      'Third',
    ]);

    expect(answers).toEqual(['You said: First', 'get_time: 12:00', 'You said: Third']);
    // The reasoning and the answer of turn 1 (and later the answer of turn 2) go by reference.
    expect(requests[1]).toEqual([
      'message:user',
      'item_reference',
      'item_reference',
      'message:user',
    ]);
    expect(requests[requests.length - 1].filter((type) => type === 'item_reference').length).toBe(
      3,
    );
  });

  it("refuse an unknown id and another tenant's alike, naming input[i].id", async () => {
    const mine = await ok('POST', '/v1/responses', { model: 'mock', input: 'secret' });
    const itemId = mine.output[0].id;
    const other = await ratchet.newKey('other tenant');

    const foreign = await call(
      'POST',
      '/v1/responses',
      { model: 'mock', input: [userMessage('hi'), { type: 'item_reference', id: itemId }] },
      other,
    );
    const unknown = await call('POST', '/v1/responses', {
      model: 'mock',
      input: [userMessage('hi'), { type: 'item_reference', id: 'msg_unknown' }],
    });

    expect(foreign.status).toBe(400);
    expect(foreign.body.error).toEqual({
      message: `Item with id '${itemId}' not found.`,
      type: 'invalid_request_error',
      param: 'input[1].id',
      code: 'item_not_found',
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toEqual({
      ...foreign.body.error,
      message: "Item with id 'msg_unknown' not found.",
    });
    // The admin key sees every tenant's items.
    const admin = await ok(
      'POST',
      '/v1/responses',
      { model: 'mock', input: [{ type: 'item_reference', id: itemId }, userMessage('x')] },
      ratchet.adminKey,
    );
    expect(admin.status).toBe('completed');
  });

  it('do not resolve the items of a response created with store: false', async () => {
    const unstored = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: [{ type: 'message', id: 'msg_unstored_input', role: 'user', content: 'forget' }],
      store: false,
    });
    for (const id of ['msg_unstored_input', unstored.output[0].id]) {
      const answer = await call('POST', '/v1/responses', {
        model: 'mock',
        input: [{ type: 'item_reference', id }],
      });
      expect(answer.status).toBe(400);
      expect(answer.body.error.param).toBe('input[0].id');
    }
  });
});

describe('the Conversations API', () => {
  it('creates, retrieves, updates and deletes a conversation (openai SDK)', async () => {
    const created = await client.conversations.create({
      metadata: { topic: 'demo' },
      items: [{ type: 'message', role: 'user', content: 'Hello!' }],
    });
    expect(Object.keys(created).sort()).toEqual(['created_at', 'id', 'metadata', 'object']);
    expect(created.id).toMatch(/^conv_[0-9a-f]{48}$/);
    expect(created.object).toBe('conversation');
    expect(created.metadata).toEqual({ topic: 'demo' });
    expect(Math.abs(created.created_at - Date.now() / 1000)).toBeLessThan(60);

    expect(await client.conversations.retrieve(created.id)).toEqual(created);
    const updated = await client.conversations.update(created.id, {
      metadata: { topic: 'project-x' },
    });
    expect(updated).toEqual({ ...created, metadata: { topic: 'project-x' } });
    expect(await client.conversations.update(created.id, { metadata: null })).toEqual({
      ...created,
      metadata: {},
    });
    expect(await client.conversations.create()).toMatchObject({
      object: 'conversation',
      metadata: {},
    });

    expect(await client.conversations.delete(created.id)).toEqual({
      id: created.id,
      object: 'conversation.deleted',
      deleted: true,
    });
    const gone = await client.conversations.retrieve(created.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(OpenAI.NotFoundError);
    expect((gone as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({
      message: `Conversation with id '${created.id}' not found.`,
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
    expect((await call('DELETE', `/v1/conversations/${created.id}`)).status).toBe(404);
  });

  it('lists, adds, retrieves and deletes items', async () => {
    const conversation = await client.conversations.create({
      items: [
        { type: 'message', role: 'developer', content: 'Be brief.' },
        // An input message with an id of the client's: ratchet keeps it (the SDK's types
        // have no id on input messages).
        {
          type: 'message',
          id: 'msg_conv_given',
          role: 'user',
          content: 'One',
        } as OpenAI.Responses.ResponseInputItem,
        { type: 'message', role: 'assistant', content: 'Two' },
      ],
    });
    const added = await client.conversations.items.create(conversation.id, {
      items: [
        { type: 'message', role: 'user', content: 'Three' },
        { type: 'function_call_output', call_id: 'call_1', output: 'Four' },
      ],
    });
    expect(added).toMatchObject({ object: 'list', has_more: false });
    expect(added.data.map((item) => item.type)).toEqual(['message', 'function_call_output']);
    expect(added.first_id).toBe(added.data[0].id);
    expect(added.last_id).toBe(added.data[1].id);

    const newestFirst = await client.conversations.items.list(conversation.id);
    expect(newestFirst.data.map((item) => gist(item as unknown as Item))).toEqual([
      'function_call_output',
      'user: Three',
      'assistant: Two',
      'user: One',
      'developer: Be brief.',
    ]);
    expect(newestFirst.data[3]).toEqual({
      type: 'message',
      id: 'msg_conv_given',
      role: 'user',
      status: 'completed',
      content: [{ type: 'input_text', text: 'One' }],
    });

    // The SDK pages with `after` until has_more is false.
    const pages: string[][] = [];
    for await (const page of (
      await client.conversations.items.list(conversation.id, { order: 'asc', limit: 2 })
    ).iterPages()) {
      pages.push(page.data.map((item) => gist(item as unknown as Item)));
    }
    expect(pages).toEqual([
      ['developer: Be brief.', 'user: One'],
      ['assistant: Two', 'user: Three'],
      ['function_call_output'],
    ]);

    const item = await client.conversations.items.retrieve('msg_conv_given', {
      conversation_id: conversation.id,
    });
    expect(gist(item as unknown as Item)).toBe('user: One');
    const afterDelete = await client.conversations.items.delete('msg_conv_given', {
      conversation_id: conversation.id,
    });
    expect(afterDelete).toEqual(conversation);
    expect((await itemsOf(conversation.id)).map(gist)).toEqual([
      'developer: Be brief.',
      'assistant: Two',
      'user: Three',
      'function_call_output',
    ]);
    const missing = await call('GET', `/v1/conversations/${conversation.id}/items/msg_conv_given`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe(
      `Item with id 'msg_conv_given' not found in conversation '${conversation.id}'.`,
    );
    expect(
      (await call('DELETE', `/v1/conversations/${conversation.id}/items/msg_conv_given`)).status,
    ).toBe(404);
  });

  it('resolves item references in items, and its items are referenced from responses', async () => {
    const earlier = await ok('POST', '/v1/responses', { model: 'mock', input: 'Earlier' });
    const answerId = earlier.output[0].id;
    const conversation = await ok('POST', '/v1/conversations', {
      items: [{ type: 'message', id: 'msg_seeded', role: 'user', content: 'Seeded' }],
    });
    await ok('POST', `/v1/conversations/${conversation.id}/items`, {
      items: [{ type: 'item_reference', id: answerId }],
    });
    expect((await itemsOf(conversation.id)).map(gist)).toEqual([
      'user: Seeded',
      'assistant: You said: Earlier',
    ]);

    const before = upstream.requests.length;
    await ok('POST', '/v1/responses', {
      model: 'upstream',
      input: [{ type: 'item_reference', id: 'msg_seeded' }, userMessage('Go on')],
    });
    expect(upstream.requests[before].body.messages).toEqual([
      { role: 'user', content: 'Seeded' },
      { role: 'user', content: 'Go on' },
    ]);
  });

  it('answers 400 naming the field for every invalid body and query', async () => {
    const conversation = await ok('POST', '/v1/conversations', {
      items: [{ type: 'message', id: 'msg_taken', role: 'user', content: 'x' }],
    });
    const base = `/v1/conversations/${conversation.id}`;
    const many = Array.from({ length: 21 }, () => userMessage('x'));
    const cases: [string, string, unknown, string | null][] = [
      ['POST', '/v1/conversations', [], null],
      ['POST', '/v1/conversations', { items: many }, 'items'],
      ['POST', '/v1/conversations', { items: [{ role: 'user', content: 7 }] }, 'items[0].content'],
      ['POST', '/v1/conversations', { items: [{ type: 'nonsense' }] }, 'items[0].type'],
      ['POST', '/v1/conversations', { metadata: { k: 'v'.repeat(513) } }, 'metadata.k'],
      ['POST', '/v1/conversations', { metadata: 'x' }, 'metadata'],
      ['POST', '/v1/conversations', { title: 'x' }, 'title'],
      [
        'POST',
        '/v1/conversations',
        { items: [userMessage('a'), { type: 'item_reference', id: 'msg_nowhere' }] },
        'items[1].id',
      ],
      [
        'POST',
        '/v1/conversations',
        {
          items: [
            { type: 'message', id: 'msg_twice', role: 'user', content: 'a' },
            { type: 'message', id: 'msg_twice', role: 'user', content: 'b' },
          ],
        },
        'items[1].id',
      ],
      ['POST', base, {}, 'metadata'],
      ['POST', base, { metadata: { k: 1 } }, 'metadata.k'],
      ['POST', `${base}/items`, {}, 'items'],
      ['POST', `${base}/items`, { items: [] }, 'items'],
      ['POST', `${base}/items`, { items: many }, 'items'],
      [
        'POST',
        `${base}/items`,
        {
          items: [
            userMessage('a'),
            { type: 'message', id: 'msg_taken', role: 'user', content: 'b' },
          ],
        },
        'items[1].id',
      ],
      ['GET', `${base}/items?limit=0`, undefined, 'limit'],
      ['GET', `${base}/items?limit=101`, undefined, 'limit'],
      ['GET', `${base}/items?order=sideways`, undefined, 'order'],
      ['GET', `${base}/items?after=msg_nowhere`, undefined, 'after'],
      [
        'POST',
        '/v1/responses',
        {
          model: 'mock',
          input: 'x',
          conversation: conversation.id,
          previous_response_id: 'resp_x',
        },
        'conversation',
      ],
      [
        'POST',
        '/v1/responses',
        { model: 'mock', input: 'x', conversation: { id: 7 } },
        'conversation.id',
      ],
    ];
    for (const [method, path, body, param] of cases) {
      const answer = await call(method, path, body);
      expect({ method, path, body, status: answer.status }).toEqual({
        method,
        path,
        body,
        status: 400,
      });
      expect(answer.body.error).toMatchObject({ type: 'invalid_request_error', param });
    }
    // Nothing of a refused request was kept.
    expect((await itemsOf(conversation.id)).map((item) => item.id)).toEqual(['msg_taken']);
  });

  it('answers no request with a 500, whatever its body or path', async () => {
    const conversation = await ok('POST', '/v1/conversations', {});
    const base = `/v1/conversations/${conversation.id}`;
    const nul = 'a\u0000b';
    const attempts: [string, string, unknown][] = [
      ['POST', '/v1/conversations', { metadata: { k: nul } }],
      ['POST', '/v1/conversations', { metadata: { [nul]: 'v' } }],
      ['POST', '/v1/conversations', { items: [userMessage(nul)] }],
      ['POST', '/v1/conversations', { items: [{ type: 'item_reference', id: nul }] }],
      [
        'POST',
        '/v1/conversations',
        { items: [{ type: 'message', id: nul, role: 'user', content: 'x' }] },
      ],
      ['POST', '/v1/conversations', 'null'],
      ['POST', '/v1/conversations', '"text"'],
      ['POST', '/v1/conversations', '{"items": [1, 2'],
      ['POST', base, { metadata: { k: nul } }],
      ['POST', `${base}/items`, { items: [userMessage(nul)] }],
      ['GET', `/v1/conversations/conv_${encodeURIComponent(nul)}`, undefined],
      ['GET', `${base}/items/${encodeURIComponent(nul)}`, undefined],
      ['DELETE', `${base}/items/${encodeURIComponent(nul)}`, undefined],
      ['GET', `${base}/items?after=${encodeURIComponent(nul)}`, undefined],
      ['GET', `${base}/items?limit=1e400`, undefined],
      ['GET', `${base}/items?limit=2&limit=3`, undefined],
      ['POST', '/v1/responses', { model: 'mock', input: 'x', conversation: nul }],
      ['POST', '/v1/responses', { model: 'mock', input: [{ type: 'item_reference', id: nul }] }],
      ['POST', '/v1/responses', { model: 'mock', input: nul, conversation: conversation.id }],
      ['POST', '/v1/conversations', `{"items":[${deeplyAnnotated(5_000)}]}`],
      ['POST', `${base}/items`, `{"items":[${deeplyAnnotated(100_000)}]}`],
    ];
    for (const [method, path, body] of attempts) {
      const answer = await call(method, path, body);
      const request = `${method} ${path} ${(typeof body === 'string' ? body : (JSON.stringify(body) ?? '')).slice(0, 80)}`;
      expect({ request, serverError: answer.status >= 500 }).toEqual({
        request,
        serverError: false,
      });
    }
  });

  it("hides one tenant's conversations from another on every endpoint; the admin sees them", async () => {
    const conversation = await ok('POST', '/v1/conversations', {
      items: [{ type: 'message', id: 'msg_private', role: 'user', content: 'private' }],
    });
    const other = await ratchet.newKey('other tenant');
    const base = `/v1/conversations/${conversation.id}`;
    const notFound = {
      message: `Conversation with id '${conversation.id}' not found.`,
      type: 'invalid_request_error',
      param: null,
      code: null,
    };
    for (const [method, path, body] of [
      ['GET', base, undefined],
      ['POST', base, { metadata: { taken: 'yes' } }],
      ['GET', `${base}/items`, undefined],
      ['POST', `${base}/items`, { items: [userMessage('intruder')] }],
      ['GET', `${base}/items/msg_private`, undefined],
      ['DELETE', `${base}/items/msg_private`, undefined],
      ['DELETE', base, undefined],
    ] as const) {
      const answer = await call(method, path, body, other);
      expect({ method, path, status: answer.status }).toEqual({ method, path, status: 404 });
      expect(answer.body.error).toEqual(notFound);
    }
    const inResponse = await call(
      'POST',
      '/v1/responses',
      { model: 'mock', input: 'x', conversation: conversation.id },
      other,
    );
    expect(inResponse.status).toBe(404);
    expect(inResponse.body.error).toEqual({ ...notFound, param: 'conversation' });

    // Nothing changed; the admin key sees and uses it.
    expect(await ok('GET', base)).toEqual(conversation);
    expect(await ok('GET', base, undefined, ratchet.adminKey)).toEqual(conversation);
    expect((await itemsOf(conversation.id, ratchet.adminKey)).map(gist)).toEqual(['user: private']);
    const byAdmin = await ok(
      'POST',
      '/v1/responses',
      { model: 'mock', input: 'from the admin', conversation: conversation.id },
      ratchet.adminKey,
    );
    expect(byAdmin.conversation).toEqual({ id: conversation.id });
  });
});

describe('responses in a conversation', () => {
  it('read the conversation as their context and append each turn to it, in order', async () => {
    const conversation = await client.conversations.create({
      items: [{ type: 'message', role: 'developer', content: 'Be brief.' }],
    });
    upstream.enqueue({ kind: 'json', body: chatCompletion({ text: 'Hello, Ada.' }) });
    const first = await client.responses.create({
      model: 'upstream',
      input: 'My name is Ada.',
      conversation: conversation.id,
    });
    expect(first.conversation).toEqual({ id: conversation.id });

    upstream.enqueue({ kind: 'json', body: chatCompletion({ text: 'Ada.' }) });
    const before = upstream.requests.length;
    const second = await client.responses.create({
      model: 'upstream',
      input: 'What is my name?',
      conversation: { id: conversation.id },
    });

    expect(second.conversation).toEqual({ id: conversation.id });
    expect(second.output_text).toBe('Ada.');
    // The chat encoder sends developer messages with the system role.
    expect(upstream.requests[before].body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Hello, Ada.' },
      { role: 'user', content: 'What is my name?' },
    ]);
    const items = await itemsOf(conversation.id);
    expect(items.map(gist)).toEqual([
      'developer: Be brief.',
      'user: My name is Ada.',
      'assistant: Hello, Ada.',
      'user: What is my name?',
      'assistant: Ada.',
    ]);
    // The items are the responses' own, ids included; input_items lists a request's own input.
    expect(items[2]).toEqual(first.output[0]);
    expect(items[4]).toEqual(second.output[0]);
    const ownInput = await client.responses.inputItems.list(second.id);
    expect(ownInput.data.map((item) => item.id)).toEqual([items[3].id]);
    expect((await client.responses.retrieve(second.id)).conversation).toEqual({
      id: conversation.id,
    });
    // A response outside any conversation has no conversation key, as in OpenAI's objects.
    expect(await ok('POST', '/v1/responses', { model: 'mock', input: 'x' })).not.toHaveProperty(
      'conversation',
    );
  });

  it('carry the Vercel AI SDK in conversation mode, which sends only the new message', async () => {
    const conversation = await ok('POST', '/v1/conversations', {});
    const { answers, requests } = await aiSdkTurns('conversation', ['One', 'Two'], {
      CONVERSATION_ID: conversation.id,
    });
    expect(answers).toEqual(['You said: One', 'You said: Two']);
    expect(requests).toEqual([['message:user'], ['message:user']]);
    expect((await itemsOf(conversation.id)).map(gist)).toEqual([
      'user: One',
      'assistant: You said: One',
      'user: Two',
      'assistant: You said: Two',
    ]);
  });

  it('stream like any response, showing the conversation in their events', async () => {
    const conversation = await client.conversations.create({});
    const stream = await client.responses.create({
      model: 'mock',
      input: 'Streamed',
      conversation: conversation.id,
      stream: true,
    });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);

    const created = events[0] as OpenAI.Responses.ResponseCreatedEvent;
    const completed = events[events.length - 1] as OpenAI.Responses.ResponseCompletedEvent;
    expect([created.type, completed.type]).toEqual(['response.created', 'response.completed']);
    expect(created.response.conversation).toEqual({ id: conversation.id });
    expect(completed.response.conversation).toEqual({ id: conversation.id });
    expect((await itemsOf(conversation.id)).map(gist)).toEqual([
      'user: Streamed',
      'assistant: You said: Streamed',
    ]);
  });

  it("carry the OpenAI Agents SDK's conversationId", async () => {
    setDefaultOpenAIClient(client);
    setTracingDisabled(true);
    const agent = new Agent({ name: 'assistant', model: 'mock', instructions: 'Be brief.' });
    const { id } = await client.conversations.create({});

    const first = await run(agent, 'My name is Ada.', { conversationId: id });
    const second = await run(agent, 'What is my name?', { conversationId: id });

    expect([first.finalOutput, second.finalOutput]).toEqual([
      'You said: My name is Ada.',
      'You said: What is my name?',
    ]);
    expect((await itemsOf(id)).map(gist)).toEqual([
      'user: My name is Ada.',
      'assistant: You said: My name is Ada.',
      'user: What is my name?',
      'assistant: You said: What is my name?',
    ]);
  });

  it('append tool calls and their outputs like any other item', async () => {
    const conversation = await ok('POST', '/v1/conversations', {});
    const tools = [{ type: 'function' as const, name: 'get_time', parameters: null, strict: null }];
    const calling = await client.responses.create({
      model: 'mock',
      input: '/call get_time {}',
      tools,
      conversation: conversation.id,
    });
    const [functionCall] = calling.output as OpenAI.Responses.ResponseFunctionToolCall[];
    await client.responses.create({
      model: 'mock',
      input: [{ type: 'function_call_output', call_id: functionCall.call_id, output: '9:00' }],
      tools,
      conversation: conversation.id,
    });
    expect((await itemsOf(conversation.id)).map(gist)).toEqual([
      'user: /call get_time {}',
      'function_call',
      'function_call_output',
      'assistant: get_time: 9:00',
    ]);
  });

  it('run one at a time: while one is queued or in progress, the others get 409 conversation_locked', async () => {
    const conversation = await ok('POST', '/v1/conversations', {});
    const attempts = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        call('POST', '/v1/responses', {
          model: 'mock',
          input: `/sleep 1500\nAttempt ${i}`,
          background: true,
          conversation: conversation.id,
        }),
      ),
    );

    const accepted = attempts.filter((attempt) => attempt.status === 200);
    const refused = attempts.filter((attempt) => attempt.status === 409);
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(5);
    const running = accepted[0].body;
    for (const { body } of refused) {
      expect(body.error).toEqual({
        message: `Another response (${running.id}) is in progress in conversation '${conversation.id}'. Wait until it ends before creating the next one.`,
        type: 'invalid_request_error',
        param: 'conversation',
        code: 'conversation_locked',
      });
    }
    // A foreground request is refused the same way, and nothing is appended before the end.
    const foreground = await call('POST', '/v1/responses', {
      model: 'mock',
      input: 'me too',
      conversation: conversation.id,
    });
    expect(foreground.status).toBe(409);
    expect(await itemsOf(conversation.id)).toEqual([]);

    expect((await settled(running.id)).status).toBe('completed');
    const next = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: 'Next',
      conversation: conversation.id,
    });
    expect(next.status).toBe('completed');
    const [runningInput] = (await ok('GET', `/v1/responses/${running.id}/input_items`)).data;
    expect((await itemsOf(conversation.id)).map(gist)).toEqual([
      gist(runningInput),
      gist((await settled(running.id)).output[0]),
      'user: Next',
      'assistant: You said: Next',
    ]);
    expect(gist(runningInput)).toMatch(/^user: \/sleep 1500\nAttempt \d$/);
  });

  it('append the turn of an incomplete response, its cut answer included', async () => {
    const conversation = await ok('POST', '/v1/conversations', {});
    const long = 'word '.repeat(40).trim();
    const cut = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: long,
      max_output_tokens: 16,
      conversation: conversation.id,
    });
    expect(cut).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
    });
    const items = await itemsOf(conversation.id);
    expect(items.map((item) => [item.role, item.status])).toEqual([
      ['user', 'completed'],
      ['assistant', 'incomplete'],
    ]);
    expect(items[1]).toEqual(cut.output[0]);
  });

  it('append nothing for a failed or cancelled response, and free the conversation', async () => {
    const conversation = await ok('POST', '/v1/conversations', {
      items: [userMessage('Start')],
    });
    const failed = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: '/fail 400 No.',
      conversation: conversation.id,
    });
    expect(failed.status).toBe('failed');

    const background = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: '/sleep 10000\nSlow',
      background: true,
      conversation: conversation.id,
    });
    const cancelled = await ok('POST', `/v1/responses/${background.id}/cancel`);
    expect(cancelled.status).toBe('cancelled');
    expect((await itemsOf(conversation.id)).map(gist)).toEqual(['user: Start']);

    const next = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: 'Again',
      conversation: conversation.id,
    });
    expect(next.status).toBe('completed');
    expect((await itemsOf(conversation.id)).map(gist)).toEqual([
      'user: Start',
      'user: Again',
      'assistant: You said: Again',
    ]);
  });

  it('end cleanly when their conversation is deleted meanwhile, and a deleted one frees it', async () => {
    const conversation = await ok('POST', '/v1/conversations', {});
    const running = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: '/sleep 300\nStill here',
      background: true,
      conversation: conversation.id,
    });
    await ok('DELETE', `/v1/conversations/${conversation.id}`);
    const ended = await settled(running.id);
    expect(ended).toMatchObject({
      status: 'completed',
      conversation: { id: conversation.id },
      output: [{ type: 'message' }],
    });
    // Its items stay referable through the response.
    const referenced = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: [{ type: 'item_reference', id: ended.output[0].id }, userMessage('ok')],
    });
    expect(referenced.status).toBe('completed');

    const other = await ok('POST', '/v1/conversations', {});
    const holder = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: '/sleep 10000\nHolding',
      background: true,
      conversation: other.id,
    });
    await ok('DELETE', `/v1/responses/${holder.id}`);
    const after = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: 'Free again',
      conversation: other.id,
    });
    expect(after.status).toBe('completed');
    expect((await itemsOf(other.id)).map(gist)).toEqual([
      'user: Free again',
      'assistant: You said: Free again',
    ]);
  });

  it('append a turn exactly once, with the terminal write, however often it is attempted', async () => {
    const conversation = await ok('POST', '/v1/conversations', {});
    const running = await ok('POST', '/v1/responses', {
      model: 'mock',
      input: '/sleep 1500\nRacing',
      background: true,
      conversation: conversation.id,
    });
    // While its model call runs, a second writer (a worker presumed dead, a retried job) ends
    // it, twice at once; the worker's own end comes later. Only the first write appends.
    await waitForStep(running.id, 'running');
    const sql = new Sql(ratchet.database.url, 2);
    try {
      const responses = new ResponsesRepository(sql);
      const output = [
        {
          type: 'message' as const,
          id: 'msg_from_the_racer',
          role: 'assistant' as const,
          status: 'completed' as const,
          content: [
            { type: 'output_text' as const, text: 'First!', annotations: [], logprobs: [] },
          ],
        },
      ];
      const [won, lost] = await Promise.all([
        responses.finishWithUsage(running.id, { status: 'completed', output }),
        responses.finishWithUsage(running.id, { status: 'completed', output }),
      ]);
      expect([won, lost].filter((record) => record !== null)).toHaveLength(1);
    } finally {
      await sql.onModuleDestroy();
    }
    const expected = ['user: /sleep 1500\nRacing', 'assistant: First!'];
    expect((await itemsOf(conversation.id)).map(gist)).toEqual(expected);
    // The worker finishes its step later: its end is refused, and nothing more is appended.
    await waitForStep(running.id, 'completed');
    expect((await settled(running.id)).output[0].id).toBe('msg_from_the_racer');
    expect((await itemsOf(conversation.id)).map(gist)).toEqual(expected);
  });
});

describe('finding referenced items', () => {
  it('goes through the item id indexes, one probe per table and reference', async () => {
    // A few thousand stored responses of two tenants, each with input and output items, and
    // as many conversation items.
    await withDatabase(async (sql) => {
      await sql.pool.query(`
        INSERT INTO api_keys (id, name, key_hash, prefix)
        VALUES ('key_bulk', 'bulk', 'hash_bulk', 'rk-bulk'), ('key_bulk2', 'bulk2', 'hash_bulk2', 'rk-bulk2');
        INSERT INTO responses (id, owner_id, model, request, output, output_keys, status)
        SELECT 'resp_bulk_' || n, CASE WHEN n % 2 = 0 THEN 'key_bulk' ELSE 'key_bulk2' END,
               'mock', '{"model":"mock"}', output, ratchet_output_keys(output), 'completed'
          FROM generate_series(1, 5000) n,
               LATERAL (SELECT jsonb_build_array(
                 jsonb_build_object('type', 'reasoning', 'id', 'rs_bulk_' || n, 'summary', '[]'::jsonb),
                 jsonb_build_object('type', 'message', 'id', 'msg_out_bulk_' || n, 'role', 'assistant',
                                    'status', 'completed', 'content', '[]'::jsonb)) AS output) o;
        INSERT INTO input_items (response_id, position, item_id, item)
        SELECT 'resp_bulk_' || n, p, 'msg_in_bulk_' || n || '_' || p,
               jsonb_build_object('type', 'message', 'id', 'msg_in_bulk_' || n || '_' || p,
                                  'role', 'user', 'content', '[]'::jsonb)
          FROM generate_series(1, 5000) n, generate_series(0, 1) p;
        INSERT INTO conversations (id, owner_id)
        SELECT 'conv_bulk_' || n, CASE WHEN n % 2 = 0 THEN 'key_bulk' ELSE 'key_bulk2' END
          FROM generate_series(1, 2000) n;
        INSERT INTO conversation_items (conversation_id, position, item_id, item)
        SELECT 'conv_bulk_' || (n % 1000 * 2 + 2), n, 'msg_conv_bulk_' || n,
               jsonb_build_object('type', 'message', 'id', 'msg_conv_bulk_' || n)
          FROM generate_series(1, 5000) n;
        ANALYZE api_keys, responses, input_items, conversations, conversation_items;
      `);
      const ids = Array.from(
        { length: 50 },
        (_, i) =>
          [`msg_out_bulk_${i * 2 + 2}`, `msg_in_bulk_${i * 2 + 2}_1`, `msg_conv_bulk_${i + 1}`][
            i % 3
          ],
      );
      const [plan] = (
        await sql.pool.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
          `EXPLAIN (ANALYZE, FORMAT JSON) ${STORED_ITEMS_SQL.byIds.text}`,
          [ids, 'key_bulk'],
        )
      ).rows[0]['QUERY PLAN'];
      const scans = nodesOf(plan.Plan).filter((node) => /Scan/.test(node['Node Type']));
      // Input and conversation items by their item_id index; outputs by the GIN index over
      // the hashes of their ids (a bitmap scan, whose index node names no relation).
      const indexes = [
        'input_items_item_id_idx',
        'responses_output_keys_idx',
        'conversation_items_item_id_idx',
      ];
      for (const index of indexes) {
        expect(scans.filter((node) => node['Index Name'] === index)).toHaveLength(1);
      }
      expect(scans.filter((node) => node['Node Type'] === 'Seq Scan')).toEqual([]);
      const found = await sql.pool.query(STORED_ITEMS_SQL.byIds.text, [ids, 'key_bulk']);
      expect(found.rows).toHaveLength(50);
      const foreign = await sql.pool.query(STORED_ITEMS_SQL.byIds.text, [ids, 'key_bulk2']);
      expect(foreign.rows).toHaveLength(0);
    });
  });
});

/** Runs test/support/ai-sdk-turns.mjs against this ratchet with the test tenant's key. */
async function aiSdkTurns(
  mode: 'stored' | 'conversation',
  turns: string[],
  env: Record<string, string> = {},
): Promise<{ answers: string[]; requests: string[][] }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [path.join(__dirname, 'support/ai-sdk-turns.mjs'), mode, JSON.stringify(turns)],
    { env: { ...process.env, RATCHET_URL: ratchet.url, RATCHET_KEY: key, ...env } },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as {
    answers: string[];
    requests: string[][];
  };
}

/** An assistant message whose annotations (free-form JSON) nest `depth` arrays deep. */
function deeplyAnnotated(depth: number): string {
  const annotation = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  return `{"role":"assistant","content":[{"type":"output_text","text":"x","annotations":[${annotation}]}]}`;
}

async function withDatabase(work: (sql: Sql) => Promise<void>): Promise<void> {
  const sql = new Sql(ratchet.database.url, 2);
  try {
    await work(sql);
  } finally {
    await sql.onModuleDestroy();
  }
}

/** A plan node and every node below it. */
function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}
