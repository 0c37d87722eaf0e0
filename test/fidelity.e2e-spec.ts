import { chatCompletion, startFakeOpenAI, type FakeOpenAI } from './support/fake-openai';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { checkSse, eventsFromSse } from './support/stream-checker';

// Request fields as clients send them, end to end against real local upstreams: assistant
// message phase, text.verbosity, user, include (encrypted reasoning through a Responses API
// and an Anthropic upstream, across a tool round and a follow-up turn), and truncation.

type Json = Record<string, unknown>;
type Item = Json & { type: string; id: string };

let chat: FakeOpenAI;
let responsesApi: FakeOpenAI;
let anthropic: FakeOpenAI;
let tools: FakeTools;
let ratchet: TestRatchet;
let key: string;

beforeAll(async () => {
  chat = await startFakeOpenAI();
  responsesApi = await startFakeOpenAI();
  anthropic = await startFakeOpenAI();
  tools = await startFakeTools();
  ratchet = await startRatchet('fidelity', {
    configYaml: `
models:
  chat: { provider: openai-chat, baseUrl: ${chat.url}, apiKey: test, upstreamModel: gpt-4o }
  chat5: { provider: openai-chat, baseUrl: ${chat.url}, apiKey: test, upstreamModel: gpt-5-mini }
  small: { provider: openai-chat, baseUrl: ${chat.url}, apiKey: test, contextWindow: 30 }
  responder: { provider: openai-responses, baseUrl: ${responsesApi.url}, apiKey: test, upstreamModel: gpt-test, acceptsVerbosity: true }
  responder4o: { provider: openai-responses, baseUrl: ${responsesApi.url}, apiKey: test, upstreamModel: gpt-4o }
  claude: { provider: anthropic, baseUrl: ${anthropic.url}, apiKey: test, upstreamModel: claude-test }
  mock: { provider: mock }
tools:
  echo: { type: http, url: ${tools.url}/echo, description: Echoes its arguments, parameters: { type: object } }
`,
  });
  key = await ratchet.newKey();
});

afterAll(async () => {
  await ratchet?.close();
  await Promise.all([chat?.close(), responsesApi?.close(), anthropic?.close(), tools?.close()]);
});

beforeEach(() => {
  for (const upstream of [chat, responsesApi, anthropic]) upstream.requests.length = 0;
});

async function create(body: Json): Promise<{ status: number; json: Json }> {
  const response = await ratchet.request('/v1/responses', {
    method: 'POST',
    key,
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Json };
}

async function completed(body: Json): Promise<Json & { id: string; output: Item[] }> {
  const { status, json } = await create(body);
  expect(status).toBe(200);
  expect(json).toMatchObject({ status: 'completed' });
  return json as Json & { id: string; output: Item[] };
}

async function get(path: string): Promise<Json> {
  const response = await ratchet.request(path, { key });
  expect(response.status).toBe(200);
  return (await response.json()) as Json;
}

function refusal(json: Json): Json {
  return json.error as Json;
}

// ---- Upstream replies ----

function responsesReply(output: unknown[]): Json {
  return {
    id: 'resp_up',
    object: 'response',
    created_at: 1_700_000_000,
    status: 'completed',
    error: null,
    incomplete_details: null,
    model: 'gpt-test',
    output,
    usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 },
  };
}

function upstreamMessage(text: string, phase?: string): Json {
  return {
    id: 'msg_up',
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
    ...(phase ? { phase } : {}),
  };
}

function anthropicReply(content: unknown[], stopReason: string): Json {
  return {
    id: 'msg_up',
    type: 'message',
    role: 'assistant',
    model: 'claude-test',
    content,
    stop_reason: stopReason,
    usage: { input_tokens: 10, output_tokens: 5 },
  };
}

const json = (body: unknown) => ({ kind: 'json' as const, body });

// ---- phase ----

describe('assistant message phase', () => {
  const history = [
    { role: 'user', content: 'What is the number?' },
    { role: 'assistant', content: 'Let me look it up.', phase: 'commentary' },
    { type: 'message', role: 'assistant', content: 'The number is four.', phase: 'final_answer' },
    { role: 'user', content: 'Repeat only the number.' },
  ];

  it('goes upstream on assistant messages, comes back on output, and stays for input_items', async () => {
    responsesApi.enqueue(json(responsesReply([upstreamMessage('Four.', 'final_answer')])));
    const response = await completed({ model: 'responder', input: history });

    const sent = responsesApi.requests[0].body.input as Json[];
    expect(sent.map((item) => item.phase)).toEqual([
      undefined,
      'commentary',
      'final_answer',
      undefined,
    ]);
    expect(response.output).toEqual([expect.objectContaining({ phase: 'final_answer' })]);

    const items = (await get(`/v1/responses/${response.id}/input_items?order=asc`)).data as Item[];
    expect(items.map((item) => item.phase)).toEqual([
      undefined,
      'commentary',
      'final_answer',
      undefined,
    ]);

    // A follow-up hands the upstream its own labelled answer back.
    responsesApi.enqueue(json(responsesReply([upstreamMessage('Still four.')])));
    await completed({ model: 'responder', previous_response_id: response.id, input: 'Again?' });
    const followUp = responsesApi.requests[1].body.input as Json[];
    expect(followUp.at(-2)).toMatchObject({ role: 'assistant', phase: 'final_answer' });
  });

  it('labels a streamed message from its output_item.added', async () => {
    const item = upstreamMessage('Checking.', 'commentary');
    const at = { item_id: 'msg_up', output_index: 0, content_index: 0 };
    const events: [string, Json][] = [
      ['response.created', { response: { ...responsesReply([]), status: 'in_progress' } }],
      [
        'response.output_item.added',
        { output_index: 0, item: { ...item, status: 'in_progress', content: [] } },
      ],
      ['response.output_text.delta', { ...at, delta: 'Checking.' }],
      ['response.output_item.done', { output_index: 0, item }],
      ['response.completed', { response: responsesReply([item]) }],
    ];
    responsesApi.enqueue({
      kind: 'handler',
      handle: (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end(
          events
            .map(
              ([type, fields]) =>
                `event: ${type}\ndata: ${JSON.stringify({ type, ...fields })}\n\n`,
            )
            .join(''),
        );
      },
    });
    const response = await ratchet.request('/v1/responses', {
      method: 'POST',
      key,
      body: JSON.stringify({ model: 'responder', stream: true, input: 'Check.' }),
    });
    const text = await response.text();
    expect(checkSse(text)).toEqual([]);
    const streamed = eventsFromSse(text).events as Json[];
    const added = streamed.find((event) => event.type === 'response.output_item.added');
    const done = streamed.find((event) => event.type === 'response.output_item.done');
    expect(added?.item).toMatchObject({ type: 'message', phase: 'commentary', content: [] });
    expect(done?.item).toMatchObject({ type: 'message', phase: 'commentary' });
  });

  it('is accepted by every model, and left out for upstreams without it', async () => {
    await completed({ model: 'mock', input: history });
    chat.enqueue(json(chatCompletion({ text: 'Four.' })));
    await completed({ model: 'chat', input: history });
    const messages = chat.requests[0].body.messages as Json[];
    expect(messages[1]).toEqual({ role: 'assistant', content: 'Let me look it up.' });
  });

  it('is refused on a message that is not the assistant’s, naming it', async () => {
    const { status, json: body } = await create({
      model: 'mock',
      input: [{ role: 'user', content: 'Hi', phase: 'commentary' }],
    });
    expect(status).toBe(400);
    expect(refusal(body)).toMatchObject({ param: 'input[0].phase', code: 'invalid_value' });
  });
});

// ---- text.verbosity and user ----

describe('text.verbosity and user', () => {
  const fields = {
    input: 'Hi',
    text: { verbosity: 'low' },
    user: 'user-42',
    safety_identifier: 'hash-42',
  };

  it('are echoed on the Response, with verbosity medium by default', async () => {
    const response = await completed({ model: 'mock', ...fields });
    expect(response.text).toEqual({ format: { type: 'text' }, verbosity: 'low' });
    expect(response).toMatchObject({ user: 'user-42', safety_identifier: 'hash-42' });
    const plain = await completed({ model: 'mock', input: 'Hi' });
    expect(plain).toMatchObject({ text: { verbosity: 'medium' }, user: null });
  });

  it('go to a Responses API upstream as text.verbosity, user and safety_identifier', async () => {
    responsesApi.enqueue(json(responsesReply([upstreamMessage('Hi.')])));
    await completed({ model: 'responder', ...fields });
    expect(responsesApi.requests[0].body).toMatchObject({
      text: { verbosity: 'low' },
      user: 'user-42',
      safety_identifier: 'hash-42',
    });
  });

  it('leave verbosity out for an OpenAI model that refuses it, and still echo it', async () => {
    responsesApi.enqueue(json(responsesReply([upstreamMessage('Hi.')])));
    const response = await completed({ model: 'responder4o', ...fields });
    expect(responsesApi.requests[0].body).not.toHaveProperty('text');
    expect(responsesApi.requests[0].body).toMatchObject({ user: 'user-42' });
    expect(response.text).toMatchObject({ verbosity: 'low' });
  });

  it('send verbosity only to chat models that take it', async () => {
    chat.enqueue(json(chatCompletion({})), json(chatCompletion({})));
    await completed({ model: 'chat', ...fields });
    await completed({ model: 'chat5', ...fields });
    const [gpt4o, gpt5] = chat.requests.map((request) => request.body);
    expect(gpt4o).not.toHaveProperty('verbosity');
    expect(gpt4o).toMatchObject({ model: 'gpt-4o', user: 'user-42', safety_identifier: 'hash-42' });
    expect(gpt5).toMatchObject({ model: 'gpt-5-mini', verbosity: 'low', user: 'user-42' });
  });

  it('go to Anthropic as metadata.user_id only', async () => {
    anthropic.enqueue(json(anthropicReply([{ type: 'text', text: 'Hi.' }], 'end_turn')));
    await completed({ model: 'claude', ...fields });
    const body = anthropic.requests[0].body;
    expect(body.metadata).toEqual({ user_id: 'hash-42' });
    expect(body).not.toHaveProperty('verbosity');
    expect(body).not.toHaveProperty('user');
  });
});

// ---- include ----

describe('include', () => {
  it.each([
    ['web_search_call.results', 'unsupported_include'],
    ['message.output_text.logprobs', 'unsupported_include'],
    ['everything', 'invalid_value'],
  ])('refuses %s with a 400 naming include[i]', async (value, code) => {
    const { status, json: body } = await create({
      model: 'mock',
      input: 'Hi',
      include: ['message.input_image.image_url', value],
    });
    expect(status).toBe(400);
    expect(refusal(body)).toMatchObject({
      type: 'invalid_request_error',
      param: 'include[1]',
      code,
    });
  });

  it.each(['chat', 'mock'])(
    'refuses reasoning.encrypted_content for model %s, whose upstream has none',
    async (model) => {
      const { status, json: body } = await create({
        model,
        input: 'Hi',
        include: ['reasoning.encrypted_content'],
      });
      expect(status).toBe(400);
      expect(refusal(body)).toMatchObject({ param: 'include[0]', code: 'unsupported_include' });
      expect(refusal(body).message).toContain(`model '${model}'`);
    },
  );

  it('accepts message.input_image.image_url: input images keep their URLs', async () => {
    const response = await completed({
      model: 'mock',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'Look.' },
            { type: 'input_image', image_url: 'https://example.com/a.png' },
          ],
        },
      ],
      include: ['message.input_image.image_url'],
    });
    const items = (await get(`/v1/responses/${response.id}/input_items`)).data as Item[];
    expect(items[0].content).toContainEqual(
      expect.objectContaining({ type: 'input_image', image_url: 'https://example.com/a.png' }),
    );
  });
});

// ---- encrypted reasoning round trips ----

describe('reasoning.encrypted_content through a Responses API upstream', () => {
  const reasoning = {
    id: 'rs_up',
    type: 'reasoning',
    summary: [{ type: 'summary_text', text: 'Echo first.' }],
    encrypted_content: 'enc-1',
  };
  const call = {
    id: 'fc_up',
    type: 'function_call',
    status: 'completed',
    call_id: 'call_up',
    name: 'echo',
    arguments: '{"say":"x"}',
  };

  it('asks for it, keeps it across the tool round and the next turn, and shows it', async () => {
    responsesApi.enqueue(
      json(responsesReply([reasoning, call])),
      json(responsesReply([upstreamMessage('It said x.')])),
    );
    const response = await completed({
      model: 'responder',
      input: 'Echo x.',
      tools: [{ type: 'function', name: 'echo' }],
      include: ['reasoning.encrypted_content'],
    });
    expect(response.output.map((item) => item.type)).toEqual(['reasoning', 'mcp_call', 'message']);
    expect(response.output[0]).toMatchObject({ encrypted_content: 'enc-1' });

    const [first, second] = responsesApi.requests.map((request) => request.body);
    expect(first.include).toEqual(['reasoning.encrypted_content']);
    expect(second.include).toEqual(['reasoning.encrypted_content']);
    expect(second.input).toEqual([
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Echo x.' }] },
      { type: 'reasoning', summary: reasoning.summary, encrypted_content: 'enc-1' },
      { type: 'function_call', call_id: 'call_up', name: 'echo', arguments: '{"say":"x"}' },
      { type: 'function_call_output', call_id: 'call_up', output: '{"say":"x"}' },
    ]);

    // The next turn, by previous_response_id, hands the reasoning back again.
    responsesApi.enqueue(json(responsesReply([upstreamMessage('Done.')])));
    await completed({
      model: 'responder',
      previous_response_id: response.id,
      input: 'Thanks.',
      include: ['reasoning.encrypted_content'],
    });
    const third = responsesApi.requests[2].body.input as Json[];
    expect(third[1]).toEqual({
      type: 'reasoning',
      summary: reasoning.summary,
      encrypted_content: 'enc-1',
    });
  });

  it('neither asks for it nor shows it to a client that did not include it', async () => {
    responsesApi.enqueue(json(responsesReply([reasoning, upstreamMessage('Hi.')])));
    const response = await completed({ model: 'responder', input: 'Hi' });
    expect(responsesApi.requests[0].body).not.toHaveProperty('include');
    expect(response.output[0]).toMatchObject({ type: 'reasoning', summary: reasoning.summary });
    expect(response.output[0]).not.toHaveProperty('encrypted_content');
  });
});

describe('Anthropic thinking as reasoning.encrypted_content', () => {
  const thinking = { type: 'thinking', thinking: 'Echo first.', signature: 'sig-1' };
  const redacted = { type: 'redacted_thinking', data: 'opaque-1' };
  const toolUse = { type: 'tool_use', id: 'toolu_1', name: 'echo', input: { say: 'x' } };
  const toolRound = () => {
    anthropic.enqueue(
      json(anthropicReply([thinking, redacted, toolUse], 'tool_use')),
      json(anthropicReply([{ type: 'text', text: 'It said x.' }], 'end_turn')),
    );
  };
  const request = {
    model: 'claude',
    input: 'Echo x.',
    tools: [{ type: 'function', name: 'echo' }],
  };

  it('hands the signed blocks back in the tool round and the next turn', async () => {
    toolRound();
    const response = await completed(request);

    const second = anthropic.requests[1].body.messages as Json[];
    expect(second[1]).toEqual({ role: 'assistant', content: [thinking, redacted, toolUse] });
    // Not asked for: the reasoning shows without its encrypted content.
    expect(response.output.map((item) => item.type)).toEqual([
      'reasoning',
      'reasoning',
      'mcp_call',
      'message',
    ]);
    expect(response.output[0]).not.toHaveProperty('encrypted_content');
    expect(response.output[0]).toMatchObject({
      content: [{ type: 'reasoning_text', text: 'Echo first.' }],
    });

    anthropic.enqueue(json(anthropicReply([{ type: 'text', text: 'Done.' }], 'end_turn')));
    await completed({ ...request, previous_response_id: response.id, input: 'Thanks.' });
    const third = anthropic.requests[2].body.messages as Json[];
    expect(third[1]).toEqual({ role: 'assistant', content: [thinking, redacted, toolUse] });
  });

  it('shows the sealed blocks when included, and takes them back from a full-history client', async () => {
    toolRound();
    const response = await completed({ ...request, include: ['reasoning.encrypted_content'] });
    const sealed = response.output.filter((item) => item.type === 'reasoning');
    expect(sealed).toHaveLength(2);
    for (const item of sealed) expect(typeof item.encrypted_content).toBe('string');

    // No previous_response_id: the client sends the whole conversation back itself.
    anthropic.enqueue(json(anthropicReply([{ type: 'text', text: 'Done.' }], 'end_turn')));
    await completed({
      model: 'claude',
      store: false,
      input: [
        { role: 'user', content: 'Echo x.' },
        ...response.output,
        { role: 'user', content: 'Thanks.' },
      ],
      tools: [{ type: 'function', name: 'echo' }],
    });
    const messages = anthropic.requests[2].body.messages as Json[];
    expect(messages[1]).toEqual({ role: 'assistant', content: [thinking, redacted, toolUse] });
  });
});

describe('streamed reasoning', () => {
  const sse = (events: Json[]): string =>
    events.map((data) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`).join('');
  const thinkingStream = sse([
    { type: 'message_start', message: { usage: { input_tokens: 10, output_tokens: 1 } } },
    {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    },
    { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Hm.' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'sig' } },
    { type: 'content_block_stop', index: 0 },
    { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi.' } },
    { type: 'content_block_stop', index: 1 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 5 } },
    { type: 'message_stop' },
  ]);

  async function streamedReasoning(include: string[]): Promise<Json[]> {
    anthropic.enqueue({
      kind: 'handler',
      handle: (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end(thinkingStream);
      },
    });
    const response = await ratchet.request('/v1/responses', {
      method: 'POST',
      key,
      body: JSON.stringify({ model: 'claude', stream: true, input: 'Hi', include }),
    });
    const text = await response.text();
    expect(checkSse(text)).toEqual([]);
    const events = eventsFromSse(text).events as Json[];
    const done = events.find(
      (event) =>
        event.type === 'response.output_item.done' && (event.item as Item).type === 'reasoning',
    );
    const terminal = events.at(-1) as { response: { output: Item[] } };
    return [done?.item as Json, terminal.response.output[0]];
  }

  it('carries encrypted content on its events only when it was included', async () => {
    for (const item of await streamedReasoning([])) {
      expect(item).toMatchObject({ type: 'reasoning' });
      expect(item).not.toHaveProperty('encrypted_content');
    }
    for (const item of await streamedReasoning(['reasoning.encrypted_content'])) {
      expect(item).toMatchObject({ type: 'reasoning' });
      expect(typeof item.encrypted_content).toBe('string');
    }
  });
});

// ---- truncation ----

describe('truncation', () => {
  // `small` has a 30-token window; at four characters a token each message is 10 tokens,
  // the last 5.
  const ten = (letter: string) => letter.repeat(40);
  const input = [
    { type: 'message', id: 'msg_u1', role: 'user', content: ten('a') },
    { type: 'message', id: 'msg_a1', role: 'assistant', content: ten('b') },
    { type: 'message', id: 'msg_u2', role: 'user', content: ten('c') },
    { type: 'message', id: 'msg_a2', role: 'assistant', content: ten('d') },
    { type: 'message', id: 'msg_u3', role: 'user', content: 'e'.repeat(20) },
  ];

  it('auto drops the oldest items so the input fits, and the steps say which', async () => {
    chat.enqueue(json(chatCompletion({ text: 'Fits.' })));
    const response = await completed({ model: 'small', input, truncation: 'auto' });
    expect(response.truncation).toBe('auto');

    const messages = chat.requests[0].body.messages as Json[];
    expect(messages.map((message) => message.content)).toEqual([
      ten('c'),
      ten('d'),
      'e'.repeat(20),
    ]);
    const steps = (await get(`/v1/responses/${response.id}/steps`)).steps as Json[];
    expect(steps[0].truncation).toEqual({
      dropped_item_ids: ['msg_u1', 'msg_a1'],
      estimated_input_tokens: 25,
      context_window: 30,
    });
  });

  it('disabled sends everything, and an upstream overflow fails the response clearly', async () => {
    chat.enqueue(json(chatCompletion({ text: 'All of it.' })));
    const whole = await completed({ model: 'small', input });
    expect((chat.requests[0].body.messages as Json[]).length).toBe(5);
    const steps = (await get(`/v1/responses/${whole.id}/steps`)).steps as Json[];
    expect(steps[0].truncation).toBeNull();

    chat.enqueue({
      kind: 'json',
      status: 400,
      body: {
        error: {
          message: "This model's maximum context length is 30 tokens.",
          type: 'invalid_request_error',
          param: 'messages',
          code: 'context_length_exceeded',
        },
      },
    });
    const { status, json: failed } = await create({
      model: 'small',
      input,
      truncation: 'disabled',
    });
    expect(status).toBe(200);
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: 'context_length_exceeded' },
    });
  });

  it('auto fails with context_length_exceeded when the newest turn alone does not fit', async () => {
    const { status, json: failed } = await create({
      model: 'small',
      input: [{ role: 'user', content: 'x'.repeat(200) }],
      truncation: 'auto',
    });
    expect(status).toBe(200);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'context_length_exceeded' } });
    expect(chat.requests).toHaveLength(0);
  });
});
