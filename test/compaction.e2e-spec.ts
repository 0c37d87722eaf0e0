import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { COMPACTION_INSTRUCTIONS, COMPACTION_REQUEST } from '@ratchet/core';
import { SealingKeysRepository, Sql, sealWith } from '@ratchet/store';
import { createApiApp } from '../apps/api/src/api-app';
import {
  chatCompletion,
  startFakeOpenAI,
  type FakeOpenAI,
  type Reply,
} from './support/fake-openai';
import { createTestDatabase } from './support/database';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { ResponsesSocket, type WsMessage } from './support/websocket-client';

// POST /v1/responses/compact end to end, and the compaction items it returns sent back as
// input: over HTTP and WebSocket, through previous_response_id chains, with the mock model
// and with a real local HTTP upstream that records what the model was given.

type Json = Record<string, unknown>;
interface Compacted {
  id: string;
  object: string;
  created_at: number;
  output: Json[];
  usage: Json;
}

let upstream: FakeOpenAI;
let ratchet: TestRatchet;
let key: string;
const apps: INestApplication[] = [];

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  ratchet = await startRatchet('compaction', {
    configYaml: `
models:
  mock: { provider: mock }
  scripted: { provider: openai-chat, baseUrl: ${upstream.url}, upstreamModel: scripted-model }
  locked: { provider: openai-chat, baseUrl: ${upstream.url}, fallbacks: [mock] }
  slow: { provider: openai-chat, baseUrl: ${upstream.url}, timeoutMs: 150 }
`,
  });
  key = await ratchet.newKey();
});

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

afterAll(async () => {
  await ratchet?.close();
  await upstream?.close();
});

const user = (content: string): Json => ({ type: 'message', role: 'user', content });
const assistant = (content: string): Json => ({ type: 'message', role: 'assistant', content });

/** POSTs a JSON body and reads the answer (status and JSON). */
async function post(
  path: string,
  body: unknown,
  withKey: string = key,
  baseUrl?: string,
): Promise<{ status: number; body: Json }> {
  const init = { method: 'POST', body: JSON.stringify(body) };
  const response = baseUrl
    ? await fetch(`${baseUrl}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${withKey}`, 'content-type': 'application/json' },
      })
    : await ratchet.request(path, { ...init, key: withKey });
  return { status: response.status, body: (await response.json()) as Json };
}

async function compact(body: Json, withKey: string = key, baseUrl?: string): Promise<Compacted> {
  const answer = await post('/v1/responses/compact', body, withKey, baseUrl);
  if (answer.status !== 200)
    throw new Error(`compact: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as unknown as Compacted;
}

async function create(body: Json, withKey: string = key): Promise<Json> {
  const answer = await post('/v1/responses', body, withKey);
  if (answer.status !== 200)
    throw new Error(`create: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

const outputText = (response: Json): string =>
  (response.output as Json[])
    .filter((item) => item.type === 'message')
    .flatMap((item) => item.content as Json[])
    .map((part) => part.text)
    .join('');

/** A streamed chat completion answering `text` (WebSocket responses stream from upstream). */
function streamedReply(text: string): Reply {
  const chunk = (body: Json): string =>
    `data: ${JSON.stringify({ id: 'chatcmpl-stream', object: 'chat.completion.chunk', created: 1, model: 'm', ...body })}\n\n`;
  return {
    kind: 'handler',
    handle: (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(
        chunk({
          choices: [{ index: 0, delta: { role: 'assistant', content: text }, finish_reason: null }],
        }) +
          chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
          chunk({
            choices: [],
            usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
          }) +
          'data: [DONE]\n\n',
      );
    },
  };
}

/** The messages the fake upstream received in its latest request. */
const lastUpstreamMessages = (): Json[] => upstream.requests.at(-1)!.body.messages as Json[];

/** Another API process on the same database, with more environment if given. */
async function otherApi(env: Record<string, string> = {}): Promise<string> {
  const app = await createApiApp(AppConfig.fromEnvironment({ ...ratchet.env, ...env }), {
    logger: ['error'] as never,
  });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}

const LAUNCH = [
  user('We agreed to launch on Tuesday and notify support first.'),
  assistant('Understood. The launch is Tuesday, with support notified beforehand.'),
];
const LAUNCH_SUMMARY =
  'user: We agreed to launch on Tuesday and notify support first.\n' +
  'assistant: Understood. The launch is Tuesday, with support notified beforehand.';

describe('POST /v1/responses/compact', () => {
  it("keeps the user's messages and replaces the rest by one sealed compaction item", async () => {
    const before = Math.floor(Date.now() / 1000);
    const compacted = await compact({
      model: 'mock',
      input: LAUNCH,
      prompt_cache_key: 'launch-plans',
    });
    expect(Object.keys(compacted).sort()).toEqual([
      'created_at',
      'id',
      'object',
      'output',
      'usage',
    ]);
    expect(compacted.id).toMatch(/^cmp_[0-9a-f]{24}$/);
    expect(compacted.object).toBe('response.compaction');
    expect(compacted.created_at).toBeGreaterThanOrEqual(before);
    expect(compacted.created_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(compacted.usage).toEqual({
      input_tokens: expect.any(Number) as number,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: Math.ceil(LAUNCH_SUMMARY.length / 4),
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: expect.any(Number) as number,
    });

    const [kept, compaction, ...rest] = compacted.output;
    expect(rest).toEqual([]);
    expect(kept).toEqual({
      type: 'message',
      id: expect.stringMatching(/^msg_/) as string,
      role: 'user',
      status: 'completed',
      content: [{ type: 'input_text', text: LAUNCH[0].content }],
    });
    expect(Object.keys(compaction).sort()).toEqual(['encrypted_content', 'id', 'type']);
    expect(compaction.type).toBe('compaction');
    expect(compaction.id).toMatch(/^cmp_/);
    expect(compaction.id).not.toBe(compacted.id);
    const sealed = compaction.encrypted_content as string;
    expect(sealed).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain('Tuesday');
  });

  it('keeps every user message, in order, with the ids they had', async () => {
    const compacted = await compact({
      model: 'mock',
      input: [
        { type: 'message', id: 'msg_first', role: 'user', content: 'One.' },
        assistant('Ack one.'),
        { type: 'message', role: 'developer', content: 'Be terse.' },
        { type: 'message', id: 'msg_second', role: 'user', content: 'Two.' },
        assistant('Ack two.'),
      ],
    });
    expect(compacted.output.map((item) => [item.type, item.id])).toEqual([
      ['message', 'msg_first'],
      ['message', 'msg_second'],
      ['compaction', expect.stringMatching(/^cmp_/)],
    ]);
  });

  it('takes a string as input, one user message', async () => {
    const compacted = await compact({ model: 'mock', input: 'Just this.' });
    expect(compacted.output).toHaveLength(2);
    expect(compacted.output[0]).toMatchObject({ role: 'user', content: [{ text: 'Just this.' }] });
  });

  it('is continued from over HTTP: the compacted output is the next input', async () => {
    const { output } = await compact({ model: 'mock', input: LAUNCH });
    const response = await create({
      model: 'mock',
      input: [...output, user('When is the launch?')],
    });
    expect(response.status).toBe('completed');
    expect(outputText(response)).toBe('You said: When is the launch?');

    // The compaction item is listed as the client sent it: the opened summary is never shown.
    const listed = await ratchet.request(
      `/v1/responses/${response.id as string}/input_items?order=asc`,
      {
        key,
      },
    );
    const items = ((await listed.json()) as { data: Json[] }).data;
    expect(items[1]).toEqual(output[1]);
    expect(JSON.stringify(items)).not.toContain('Understood');

    // Nor does the stored response echo it anywhere.
    const stored = await ratchet.request(`/v1/responses/${response.id as string}`, { key });
    expect(await stored.text()).not.toContain('Understood');
  });

  it('is kept in a conversation as the client sent it, and read there by the model', async () => {
    const { output } = await compact({ model: 'mock', input: LAUNCH });
    const conversation = await post('/v1/conversations', { items: output });
    expect(conversation.status).toBe(200);
    const id = conversation.body.id as string;
    const listed = await ratchet.request(`/v1/conversations/${id}/items?order=asc`, { key });
    const items = ((await listed.json()) as { data: Json[] }).data;
    expect(items[1]).toMatchObject(output[1]);
    expect(JSON.stringify(items)).not.toContain('Understood');
    const one = await ratchet.request(`/v1/conversations/${id}/items/${items[1].id as string}`, {
      key,
    });
    expect(await one.text()).not.toContain('Understood');
    const response = await create({ model: 'mock', conversation: id, input: 'Go on.' });
    expect(outputText(response)).toBe('You said: Go on.');
  });

  it('gives the model the summary where the compaction item stands (a real upstream)', async () => {
    const { output } = await compact({ model: 'mock', input: LAUNCH });
    upstream.enqueue({ kind: 'json', body: chatCompletion({ text: 'Tuesday.' }) });
    const response = await create({
      model: 'scripted',
      instructions: 'You plan launches.',
      input: [...output, user('When is the launch?')],
    });
    expect(outputText(response)).toBe('Tuesday.');
    expect(lastUpstreamMessages()).toEqual([
      { role: 'system', content: 'You plan launches.' },
      { role: 'user', content: LAUNCH[0].content },
      { role: 'system', content: `Summary of the earlier conversation:\n${LAUNCH_SUMMARY}` },
      { role: 'user', content: 'When is the launch?' },
    ]);
  });

  it('has any configured model write the summary, asked through its provider', async () => {
    upstream.enqueue({
      kind: 'json',
      body: chatCompletion({
        text: '  The team launches on Tuesday; support hears first.  ',
        usage: { prompt_tokens: 120, completion_tokens: 12, cached: 100 },
      }),
    });
    const compacted = await compact({
      model: 'scripted',
      instructions: 'You plan launches.',
      prompt_cache_key: 'launch-plans',
      input: LAUNCH,
    });
    const asked = upstream.requests.at(-1)!.body;
    expect(asked.model).toBe('scripted-model');
    expect(asked.prompt_cache_key).toBe('launch-plans');
    expect(asked.tools).toBeUndefined();
    expect(asked.messages).toEqual([
      {
        role: 'system',
        content: `${COMPACTION_INSTRUCTIONS}\n\nThe conversation ran under these instructions:\nYou plan launches.`,
      },
      { role: 'user', content: LAUNCH[0].content },
      { role: 'assistant', content: LAUNCH[1].content },
      { role: 'user', content: COMPACTION_REQUEST },
    ]);
    expect(compacted.usage).toEqual({
      input_tokens: 120,
      input_tokens_details: { cached_tokens: 100 },
      output_tokens: 12,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 132,
    });

    upstream.enqueue({ kind: 'json', body: chatCompletion({ text: 'Noted.' }) });
    await create({ model: 'scripted', input: [...compacted.output, user('Next?')] });
    expect(lastUpstreamMessages()[1]).toEqual({
      role: 'system',
      content:
        'Summary of the earlier conversation:\nThe team launches on Tuesday; support hears first.',
    });
  });

  it("compacts a stored response's conversation, as a continuation would see it", async () => {
    const first = await create({ model: 'mock', input: 'The code word is cobalt.' });
    const second = await create({
      model: 'mock',
      previous_response_id: first.id,
      input: 'And again?',
    });
    const compacted = await compact({
      model: 'mock',
      previous_response_id: second.id,
      input: 'One more.',
    });
    expect(
      compacted.output.map((item) =>
        item.type === 'message' ? (item.content as Json[])[0].text : item.type,
      ),
    ).toEqual(['The code word is cobalt.', 'And again?', 'One more.', 'compaction']);

    upstream.enqueue({ kind: 'json', body: chatCompletion({ text: 'cobalt' }) });
    await create({ model: 'scripted', input: [...compacted.output, user('The code word?')] });
    expect(lastUpstreamMessages()[3]).toEqual({
      role: 'system',
      content: [
        'Summary of the earlier conversation:',
        'user: The code word is cobalt.',
        'assistant: You said: The code word is cobalt.',
        'user: And again?',
        'assistant: You said: And again?',
        'user: One more.',
      ].join('\n'),
    });
  });

  it('keeps previous_response_id chains that hold a compaction item working', async () => {
    const { output } = await compact({ model: 'mock', input: LAUNCH });
    const first = await create({ model: 'mock', input: [...output, user('Noted?')] });
    const second = await create({
      model: 'mock',
      previous_response_id: first.id,
      input: 'And the day?',
    });
    expect(outputText(second)).toBe('You said: And the day?');

    upstream.enqueue({ kind: 'json', body: chatCompletion({ text: 'Tuesday.' }) });
    await create({ model: 'scripted', previous_response_id: second.id, input: 'Day?' });
    expect(lastUpstreamMessages().map((message) => message.role)).toEqual([
      'user',
      'system',
      'user',
      'assistant',
      'user',
      'assistant',
      'user',
    ]);
    expect(lastUpstreamMessages()[1].content).toBe(
      `Summary of the earlier conversation:\n${LAUNCH_SUMMARY}`,
    );

    // A chain holding a compaction item compacts again, into one new compaction item.
    const again = await compact({ model: 'mock', previous_response_id: second.id });
    expect(again.output.map((item) => item.type)).toEqual([
      'message',
      'message',
      'message',
      'compaction',
    ]);
    upstream.enqueue({ kind: 'json', body: chatCompletion({ text: 'ok' }) });
    await create({ model: 'scripted', input: again.output });
    expect(lastUpstreamMessages()[3].content).toContain(
      `developer: Summary of the earlier conversation: ${LAUNCH_SUMMARY.replace(/\n/g, ' ')}`,
    );
  });

  it('is continued from over WebSocket, on a new chain and then by previous_response_id', async () => {
    const { output } = await compact({ model: 'mock', input: LAUNCH });
    const socket = await ResponsesSocket.open(ratchet.url, key);
    try {
      const terminal = (messages: WsMessage[]): WsMessage => messages[messages.length - 1];
      const first = terminal(
        await socket.turn({
          model: 'mock',
          store: false,
          input: [...output, user('Continue from here.')],
          tools: [],
        }),
      );
      expect(first.type).toBe('response.completed');
      const firstResponse = first.response as Json;

      upstream.enqueue(streamedReply('On Tuesday.'));
      const second = terminal(
        await socket.turn({
          model: 'scripted',
          store: false,
          previous_response_id: firstResponse.id,
          input: 'When?',
        }),
      );
      expect(second.type).toBe('response.completed');
      expect(lastUpstreamMessages()[1]).toEqual({
        role: 'system',
        content: `Summary of the earlier conversation:\n${LAUNCH_SUMMARY}`,
      });

      // A tampered item is the turn's error, and the connection goes on.
      const tampered = {
        ...output[1],
        encrypted_content: `${output[1].encrypted_content as string}x`,
      };
      const refused = terminal(await socket.turn({ model: 'mock', input: [tampered] }));
      expect(refused).toMatchObject({
        type: 'error',
        status: 400,
        error: { param: 'input[0].encrypted_content', code: 'invalid_encrypted_content' },
      });
    } finally {
      await socket.close();
    }
  });

  it('opens in every API process, and after a restart: the key is kept in Postgres', async () => {
    const { output } = await compact({ model: 'mock', input: LAUNCH });
    const elsewhere = await otherApi();
    const answer = await post('/v1/responses', { model: 'mock', input: output }, key, elsewhere);
    expect(answer.status).toBe(200);
    const compactedThere = await compact({ model: 'mock', input: 'hi' }, key, elsewhere);
    expect((await create({ model: 'mock', input: compactedThere.output })).status).toBe(
      'completed',
    );
  });

  describe('RATCHET_SECRET_KEY', () => {
    it('seals with the given key instead; what another key sealed does not open', async () => {
      const secret = randomBytes(32);
      const withSecret = await otherApi({ RATCHET_SECRET_KEY: secret.toString('hex') });
      const { output } = await compact({ model: 'mock', input: LAUNCH }, key, withSecret);
      const sealed = output[1].encrypted_content as string;
      // Sealed under the given key: a sealed value's first characters carry its key's id.
      expect(sealWith(secret, 'x', '').slice(0, 6)).toBe(sealed.slice(0, 6));

      // The default deployment key (in Postgres) is another key: a 400 that says so.
      const refused = await post('/v1/responses', { model: 'mock', input: output });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({
        type: 'invalid_request_error',
        param: 'input[1].encrypted_content',
        code: 'invalid_encrypted_content',
      });
      expect((refused.body.error as Json).message).toMatch(/another deployment/);

      const accepted = await post(
        '/v1/responses',
        { model: 'mock', input: output },
        key,
        withSecret,
      );
      expect(accepted.status).toBe(200);
    });
  });

  describe('errors', () => {
    it('requires model, naming it (400)', async () => {
      const answer = await post('/v1/responses/compact', { input: [user('Compact this.')] });
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        error: {
          message: "Missing required parameter: 'model'.",
          type: 'invalid_request_error',
          param: 'model',
          code: 'missing_required_parameter',
        },
      });
    });

    it.each([
      ['stream', true],
      ['tools', []],
      ['store', false],
    ])('refuses the unknown field %s, naming it', async (field, value) => {
      const answer = await post('/v1/responses/compact', {
        model: 'mock',
        input: 'hi',
        [field]: value,
      });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ param: field, code: 'unknown_parameter' });
    });

    it('refuses an unknown model, and nothing to compact', async () => {
      const unknown = await post('/v1/responses/compact', { model: 'nope', input: 'hi' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error).toMatchObject({ param: 'model', code: 'model_not_found' });
      const empty = await post('/v1/responses/compact', { model: 'mock', input: [] });
      expect(empty.status).toBe(400);
      expect(empty.body.error).toMatchObject({ param: 'input' });
    });

    it('needs a key, like every endpoint', async () => {
      const response = await ratchet.request('/v1/responses/compact', {
        method: 'POST',
        body: JSON.stringify({ model: 'mock', input: 'hi' }),
        key: null,
      });
      expect(response.status).toBe(401);
    });

    it("answers another tenant's previous_response_id with a 404", async () => {
      const theirs = await create({ model: 'mock', input: 'Private.' }, await ratchet.newKey('b'));
      const answer = await post('/v1/responses/compact', {
        model: 'mock',
        previous_response_id: theirs.id,
      });
      expect(answer.status).toBe(404);
      expect(answer.body.error).toMatchObject({
        message: `Previous response with id '${theirs.id as string}' not found.`,
        param: 'previous_response_id',
        code: 'previous_response_not_found',
      });
    });

    it('refuses tampered encrypted_content with a 400 naming it, on both endpoints', async () => {
      const { output } = await compact({ model: 'mock', input: LAUNCH });
      const sealed = Buffer.from(output[1].encrypted_content as string, 'base64url');
      sealed[sealed.length - 1] ^= 0x01;
      const tampered = { ...output[1], encrypted_content: sealed.toString('base64url') };
      const garbage = { type: 'compaction', encrypted_content: 'not sealed at all' };
      for (const path of ['/v1/responses', '/v1/responses/compact']) {
        for (const [index, input] of [
          [1, [user('a'), tampered]],
          [0, [garbage, user('b')]],
        ] as const) {
          const answer = await post(path, { model: 'mock', input });
          expect(answer.status).toBe(400);
          expect(answer.body.error).toMatchObject({
            type: 'invalid_request_error',
            param: `input[${index}].encrypted_content`,
            code: 'invalid_encrypted_content',
          });
        }
      }
      // A compaction item's fields are checked like any item's.
      const bare = await post('/v1/responses', {
        model: 'mock',
        input: [{ type: 'compaction', id: 'cmp_1' }],
      });
      expect(bare.body.error).toMatchObject({ param: 'input[0].encrypted_content' });
    });

    it('answers upstream failures with an error envelope, never a 500', async () => {
      // The mock fails as an upstream answering 401 would: not retried, no fallback.
      const refused = await post('/v1/responses/compact', {
        model: 'mock',
        input: [user('/fail 401 The key was revoked.')],
      });
      expect(refused.status).toBe(502);
      expect(refused.body.error).toMatchObject({
        type: 'server_error',
        param: null,
        code: 'upstream_auth_error',
      });
      expect((refused.body.error as Json).message).toMatch(
        /^The model 'mock' could not summarise the conversation: The key was revoked\./,
      );

      const tooLong = await post('/v1/responses/compact', {
        model: 'mock',
        input: [user("/fail 400 This model's maximum context length is 8 tokens.")],
      });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.error).toMatchObject({ param: 'input', code: 'context_length_exceeded' });

      upstream.enqueue({ kind: 'json', status: 200, body: { choices: 'garbage' } });
      const garbled = await post('/v1/responses/compact', { model: 'scripted', input: LAUNCH });
      expect(garbled.status).toBe(502);
      expect(garbled.body.error).toMatchObject({ type: 'server_error' });
    });

    it('falls back as a model call does, and times out instead of hanging', async () => {
      upstream.enqueue({ kind: 'json', status: 401, body: { error: { message: 'bad key' } } });
      const fellBack = await compact({ model: 'locked', input: LAUNCH });
      expect(fellBack.output).toHaveLength(2);

      const hang = { kind: 'handler' as const, handle: () => undefined };
      upstream.enqueue(hang, hang, hang, hang);
      const started = Date.now();
      const timedOut = await post('/v1/responses/compact', { model: 'slow', input: LAUNCH });
      expect(timedOut.status).toBe(502);
      expect(timedOut.body.error).toMatchObject({ code: 'upstream_timeout' });
      expect(Date.now() - started).toBeLessThan(10_000);
    }, 20_000);
  });
});

describe('the deployment sealing key', () => {
  it('is made once, whatever the number of processes asking for it at once', async () => {
    const database = await createTestDatabase('sealing_key');
    const pools = Array.from({ length: 4 }, () => new Sql(database.url));
    try {
      const keys = await Promise.all(
        pools.map((sql) => new SealingKeysRepository(sql).deploymentKey()),
      );
      expect(keys[0]).toHaveLength(32);
      for (const other of keys) expect(other.equals(keys[0])).toBe(true);
      expect((await new SealingKeysRepository(pools[0]).deploymentKey()).equals(keys[0])).toBe(
        true,
      );
    } finally {
      await Promise.all(pools.map((sql) => sql.onModuleDestroy()));
      await database.drop();
    }
  });
});
