import { AppConfig } from '@ratchet/config';
import type OpenAI from 'openai';
import { createApiApp } from '../apps/api/src/api-app';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';
import { checkStream, eventsFromSse } from './support/stream-checker';
import { ResponsesSocket, UpgradeRefused, type WsMessage } from './support/websocket-client';

// WebSocket mode of /v1/responses end to end: a real API and worker, Postgres and Redis, and
// a `ws` client on loopback. Each response.create runs through the same create path as
// POST /v1/responses; its events arrive as JSON messages, numbered as the SSE stream numbers
// them; store:false responses can be continued on their own connection only.

const BODY_LIMIT_BYTES = 64 * 1024;

let ratchet: TestRatchet;
let key: string;
const sockets: ResponsesSocket[] = [];

beforeAll(async () => {
  ratchet = await startRatchet('websocket', {
    configYaml: `
models:
  mock: { provider: mock }
tools:
  boss: { type: agent, model: mock, approval: always }
`,
    env: {
      RATCHET_SSE_KEEPALIVE_MS: '200',
      RATCHET_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
    },
  });
  key = await ratchet.newKey();
});

afterEach(async () => {
  await Promise.all(sockets.splice(0).map((socket) => socket.close()));
});

afterAll(async () => {
  await ratchet?.close();
});

async function connect(withKey: string | null = key): Promise<ResponsesSocket> {
  const socket = await ResponsesSocket.open(ratchet.url, withKey);
  sockets.push(socket);
  return socket;
}

/** How an upgrade was refused: its status and body. */
async function refusalOf(opening: Promise<unknown>): Promise<{ status: number; body: unknown }> {
  const refusal = await opening.then(
    () => new Error('the upgrade was accepted'),
    (error: unknown) => error,
  );
  if (!(refusal instanceof UpgradeRefused)) throw refusal;
  return { status: refusal.status, body: refusal.body };
}

const terminal = (messages: WsMessage[]): WsMessage => messages[messages.length - 1];
/** The Response a turn's terminal event carries (the SDK's type lacks Open Responses' `store`). */
type ResponseObject = OpenAI.Responses.Response & { store: boolean };
const responseOf = (messages: WsMessage[]): ResponseObject =>
  terminal(messages).response as ResponseObject;
const outputText = (response: OpenAI.Responses.Response): string =>
  response.output
    .flatMap((item) => (item.type === 'message' ? item.content : []))
    .map((part) => (part.type === 'output_text' ? part.text : ''))
    .join('');

describe('a response over WebSocket', () => {
  it('streams the events of the SSE stream, in its order and numbering, one JSON message each', async () => {
    const socket = await connect();
    const messages = await socket.turn({ model: 'mock', input: 'Hello over a socket' });

    expect(checkStream(messages)).toEqual([]);
    expect(messages.map((message) => message.sequence_number)).toEqual(messages.map((_, i) => i));
    expect(messages[0].type).toBe('response.created');
    expect(terminal(messages).type).toBe('response.completed');
    const response = responseOf(messages);
    expect(response.status).toBe('completed');
    expect(outputText(response)).toBe('You said: Hello over a socket');
    // A turn ends with its terminal event: no [DONE] marker, nothing after it.
    expect(await socket.quietFor(200)).toBe(true);

    // The same events, byte for byte as JSON, as GET ?stream=true replays them.
    const replay = await ratchet.request(`/v1/responses/${response.id}?stream=true`, { key });
    expect(messages).toEqual(eventsFromSse(await replay.text()).events);
  });

  it('runs several responses one after another on one connection', async () => {
    const socket = await connect();
    const ids: string[] = [];
    for (const word of ['first', 'second', 'third']) {
      const messages = await socket.turn({ model: 'mock', store: false, input: `/reply ${word}` });
      expect(checkStream(messages)).toEqual([]);
      const response = responseOf(messages);
      expect(response.status).toBe('completed');
      expect(outputText(response)).toBe(word);
      ids.push(response.id);
    }
    expect(new Set(ids).size).toBe(3);
  });

  it('refuses a second response.create while one is in flight, and finishes the first', async () => {
    const socket = await connect();
    socket.create({ model: 'mock', input: '/stream 50\n/reply slow and steady wins' });
    socket.create({ model: 'mock', input: 'too soon' });
    const messages = await socket.turnMessages();
    // The refusal may arrive among the first response's events; the first goes on.
    const refusal = messages.find((message) => message.type === 'error')!;
    expect(refusal).toMatchObject({
      status: 409,
      error: { type: 'invalid_request_error', code: 'response_already_in_flight' },
    });
    const rest = terminal(messages).type === 'error' ? await socket.turnMessages() : messages;
    expect(outputText(responseOf(rest))).toBe('slow and steady wins');
  });
});

describe('errors', () => {
  it('answers a bad request with an error message naming the param, then serves the next', async () => {
    const socket = await connect();
    const [error] = await socket.turn({ model: 'mock', input: 'x', temperature: 5 });
    expect(error).toEqual({
      type: 'error',
      status: 400,
      error: {
        type: 'invalid_request_error',
        code: expect.any(String) as unknown,
        message: expect.stringContaining('temperature') as unknown,
        param: 'temperature',
      },
    });

    const next = await socket.turn({ model: 'mock', input: 'still here' });
    expect(outputText(responseOf(next))).toBe('You said: still here');
  });

  it.each([
    [
      'an unknown model',
      { type: 'response.create', model: 'nope', input: 'x' },
      'model',
      'model_not_found',
    ],
    [
      'stream, which the socket implies',
      { type: 'response.create', model: 'mock', stream: true },
      'stream',
      'unsupported_parameter',
    ],
    [
      'background',
      { type: 'response.create', model: 'mock', background: true },
      'background',
      'unsupported_parameter',
    ],
    ['an unknown message type', { type: 'response.cancel' }, 'type', 'invalid_value'],
    [
      'an unknown field',
      { type: 'response.create', model: 'mock', colour: 'red' },
      'colour',
      'unknown_parameter',
    ],
  ])('refuses %s', async (_what, message, param, code) => {
    const socket = await connect();
    socket.sendRaw(JSON.stringify(message));
    expect(await socket.next()).toMatchObject({
      type: 'error',
      status: 400,
      error: { param, code },
    });
  });

  it('refuses text that is not JSON', async () => {
    const socket = await connect();
    socket.sendRaw('{"type": "response.create",');
    expect(await socket.next()).toMatchObject({
      type: 'error',
      status: 400,
      error: { code: 'invalid_json', param: null },
    });
  });

  it('closes the connection (1009) on a message over RATCHET_BODY_LIMIT_BYTES', async () => {
    const socket = await connect();
    socket.create({ model: 'mock', input: 'x'.repeat(BODY_LIMIT_BYTES) });
    expect((await socket.closed).code).toBe(1009);
  });

  it('ends a response whose model fails with response.failed', async () => {
    const socket = await connect();
    const messages = await socket.turn({ model: 'mock', input: '/fail 400 bad upstream' });
    expect(terminal(messages).type).toBe('response.failed');
    expect(responseOf(messages).error).toMatchObject({ code: expect.any(String) as unknown });
  });
});

describe('authentication', () => {
  it('refuses an upgrade without a key, or with a wrong one, in OpenAI’s envelope', async () => {
    expect(await refusalOf(ResponsesSocket.open(ratchet.url, null))).toEqual({
      status: 401,
      body: {
        error: {
          type: 'invalid_request_error',
          code: 'missing_api_key',
          message: expect.stringContaining('API key') as unknown,
          param: null,
        },
      },
    });
    expect(await refusalOf(ResponsesSocket.open(ratchet.url, 'rk-not-a-key'))).toMatchObject({
      status: 401,
      body: { error: { code: 'invalid_api_key' } },
    });
  });

  it('speaks WebSocket mode on /v1/responses only', async () => {
    expect(await refusalOf(ResponsesSocket.open(ratchet.url, key, '/v1/models'))).toMatchObject({
      status: 404,
      body: { error: { message: 'Unknown request URL: GET /v1/models.' } },
    });
  });
});

describe('continuation', () => {
  it('continues a store:false response on its own connection', async () => {
    const socket = await connect();
    const first = responseOf(
      await socket.turn({
        model: 'mock',
        store: false,
        input: '/call lookup_time {"tz":"UTC"}',
        tools: [{ type: 'function', name: 'lookup_time', parameters: { type: 'object' } }],
      }),
    );
    expect(first.store).toBe(false);
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call.type).toBe('function_call');

    // Only the new item goes over the wire; the call it answers comes from the connection.
    const second = responseOf(
      await socket.turn({
        model: 'mock',
        store: false,
        previous_response_id: first.id,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: '12:00' }],
      }),
    );
    expect(second.status).toBe('completed');
    expect(second.previous_response_id).toBe(first.id);
    expect(outputText(second)).toBe('lookup_time: 12:00');

    // And on along the chain.
    const third = responseOf(
      await socket.turn({
        model: 'mock',
        store: false,
        previous_response_id: second.id,
        input: 'and?',
      }),
    );
    expect(outputText(third)).toBe('You said: and?');
  });

  it('does not know a store:false response on another connection, nor over HTTP', async () => {
    const first = await connect();
    const created = responseOf(await first.turn({ model: 'mock', store: false, input: 'cobalt' }));

    const second = await connect();
    const [error] = await second.turn({
      model: 'mock',
      store: false,
      previous_response_id: created.id,
      input: 'what was it?',
    });
    expect(error).toMatchObject({
      type: 'error',
      status: 404,
      error: {
        type: 'invalid_request_error',
        code: 'previous_response_not_found',
        param: 'previous_response_id',
      },
    });
    // The connection is fine: a fresh chain starts.
    const recovered = await second.turn({ model: 'mock', store: false, input: 'recovered' });
    expect(responseOf(recovered).status).toBe('completed');

    const overHttp = await ratchet.request('/v1/responses', {
      method: 'POST',
      key,
      body: JSON.stringify({ model: 'mock', previous_response_id: created.id, input: 'x' }),
    });
    expect(overHttp.status).toBe(404);
    expect(await overHttp.json()).toMatchObject({ error: { code: 'previous_response_not_found' } });
  });

  it('forgets the response a failed continuation referenced', async () => {
    const socket = await connect();
    const first = responseOf(await socket.turn({ model: 'mock', store: false, input: 'ember' }));

    const [refused] = await socket.turn({
      model: 'mock',
      store: false,
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: 'call_missing', output: 'x' }],
    });
    expect(refused).toMatchObject({
      type: 'error',
      status: 400,
      error: { code: 'function_call_not_found', param: 'input[0].call_id' },
    });

    const [gone] = await socket.turn({
      model: 'mock',
      store: false,
      previous_response_id: first.id,
      input: 'stale',
    });
    expect(gone).toMatchObject({ type: 'error', error: { code: 'previous_response_not_found' } });
  });

  it('forgets it too when the continuation ends response.failed', async () => {
    const socket = await connect();
    const first = responseOf(await socket.turn({ model: 'mock', store: false, input: 'ember' }));
    const failed = await socket.turn({
      model: 'mock',
      store: false,
      previous_response_id: first.id,
      input: '/fail 400 no',
    });
    expect(terminal(failed).type).toBe('response.failed');

    const [gone] = await socket.turn({
      model: 'mock',
      store: false,
      previous_response_id: first.id,
      input: 'stale',
    });
    expect(gone).toMatchObject({ type: 'error', error: { code: 'previous_response_not_found' } });
  });

  it('continues stored responses from any connection of their tenant, and of no other', async () => {
    const socket = await connect();
    const stored = responseOf(await socket.turn({ model: 'mock', input: 'stored' }));
    expect(stored.store).toBe(true);

    const later = await connect();
    const continued = responseOf(
      await later.turn({ model: 'mock', previous_response_id: stored.id, input: 'go on' }),
    );
    expect(continued.status).toBe('completed');
    expect(outputText(continued)).toBe('You said: go on');

    const stranger = await connect(await ratchet.newKey('stranger'));
    const [error] = await stranger.turn({
      model: 'mock',
      previous_response_id: stored.id,
      input: 'let me in',
    });
    expect(error).toMatchObject({
      type: 'error',
      status: 404,
      error: { code: 'previous_response_not_found', param: 'previous_response_id' },
    });
    expect(
      (await ratchet.request(`/v1/responses/${stored.id}`, { key: await ratchet.newKey() })).status,
    ).toBe(404);
  });
});

describe('approvals', () => {
  const boss = { type: 'function', name: 'boss' } as const;

  /** A turn that pauses on the boss agent's approval; returns its response and request. */
  async function paused(socket: ResponsesSocket, store: boolean) {
    const messages = await socket.turn({
      model: 'mock',
      store,
      input: '/call boss {"input":"ship it"}',
      tools: [boss],
    });
    expect(checkStream(messages)).toEqual([]);
    const response = responseOf(messages);
    expect(response.status).toBe('completed');
    const request = response.output.find((item) => item.type === 'mcp_approval_request');
    expect(request).toMatchObject({ name: 'boss', server_label: 'agent' });
    return { response, request: request! };
  }

  const answer = (id: string, approve: boolean) => ({
    type: 'mcp_approval_response' as const,
    approval_request_id: id,
    approve,
  });

  it('pauses a turn for approval and goes on in the turn that approves; one not stored, on its own connection only', async () => {
    for (const store of [true, false]) {
      const socket = await connect();
      const first = await paused(socket, store);
      if (!store) {
        // Not stored: only the connection that made it holds it.
        const elsewhere = await (
          await connect()
        ).turn({
          model: 'mock',
          store,
          previous_response_id: first.response.id,
          input: [answer(first.request.id, true)],
        });
        expect(elsewhere[0]).toMatchObject({
          type: 'error',
          status: 404,
          error: { param: 'previous_response_id', code: 'previous_response_not_found' },
        });
      }
      const messages = await socket.turn({
        model: 'mock',
        store,
        previous_response_id: first.response.id,
        input: [answer(first.request.id, true)],
        tools: [boss],
      });
      expect(checkStream(messages)).toEqual([]);
      const resumed = responseOf(messages);
      expect(resumed.status).toBe('completed');
      expect(resumed.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
      expect(resumed.output[0]).toMatchObject({ name: 'boss', output: 'You said: ship it' });
      expect(outputText(resumed)).toBe('boss: You said: ship it');
    }
  });

  it('answers a stored paused turn from another connection; a denial reaches the model', async () => {
    const first = await paused(await connect(), true);
    const other = await connect();
    const resumed = responseOf(
      await other.turn({
        model: 'mock',
        previous_response_id: first.response.id,
        input: [answer(first.request.id, false)],
        tools: [boss],
      }),
    );
    expect(resumed.status).toBe('completed');
    expect(resumed.output[0]).toMatchObject({ type: 'mcp_call', name: 'boss', output: null });
    expect(outputText(resumed)).toMatch(/^boss: /);
  });
});

describe('the connection', () => {
  it('leaves a response running when the client hangs up mid-stream', async () => {
    const socket = await connect();
    socket.create({ model: 'mock', input: '/stream 100\n/reply one two three four five six' });
    const created = await socket.next();
    expect(created.type).toBe('response.created');
    const id = (created.response as { id: string }).id;
    while ((await socket.next()).type !== 'response.output_text.delta');
    socket.socket.terminate();
    await socket.closed;

    const finished = await waitForResponse(ratchet.client(key), id);
    expect(finished.status).toBe('completed');
    expect(outputText(finished)).toBe('one two three four five six');
  });

  it('pings idle connections every RATCHET_SSE_KEEPALIVE_MS', async () => {
    const socket = await connect();
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(socket.pings).toBeGreaterThanOrEqual(2);
  });

  it('is closed (1001) when its API process shuts down', async () => {
    const other = await createApiApp(AppConfig.fromEnvironment(ratchet.env), {
      logger: ['error'] as never,
    });
    await other.listen(0, '127.0.0.1');
    const url = (await other.getUrl()).replace('[::1]', '127.0.0.1');
    const socket = await ResponsesSocket.open(url, key);
    socket.create({ model: 'mock', input: '/stream 200\n/reply a b c d e f g h' });
    const created = await socket.next();
    expect(created.type).toBe('response.created');

    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await socket.closed).toEqual({ code: 1001, reason: 'ratchet is shutting down' });
    // The response is the workers', not the socket's or the API process's.
    const finished = await waitForResponse(
      ratchet.client(key),
      (created.response as { id: string }).id,
    );
    expect(outputText(finished)).toBe('a b c d e f g h');
  });
});
