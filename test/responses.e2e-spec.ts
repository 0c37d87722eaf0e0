import OpenAI from 'openai';
import { chatCompletion, startFakeOpenAI, type FakeOpenAI } from './support/fake-openai';
import { RESPONSE_RESOURCE_KEYS } from './support/open-responses';
import { startRatchet, type TestRatchet } from './support/ratchet';

// The foundation end to end: the official SDK against the real API and worker, real
// Postgres and Redis, and a real HTTP server standing in for an OpenAI-compatible upstream.

// The spec's 31 keys and OpenAI's `user`, which ratchet echoes too.
const RESPONSE_KEYS = [...RESPONSE_RESOURCE_KEYS, 'user'].sort();

let upstream: FakeOpenAI;
let ratchet: TestRatchet;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  ratchet = await startRatchet('responses', {
    configYaml: `
models:
  mock: { provider: mock }
  upstream:
    provider: openai-chat
    baseUrl: ${upstream.url}
    apiKey: \${FAKE_UPSTREAM_KEY}
    upstreamModel: upstream-model
  unreachable:
    provider: openai-chat
    baseUrl: http://127.0.0.1:9/v1
  with-fallback:
    provider: openai-chat
    baseUrl: http://127.0.0.1:9/v1
    fallbacks: [backup]
  backup:
    provider: openai-chat
    baseUrl: ${upstream.url}
    upstreamModel: backup-model
`,
    env: { FAKE_UPSTREAM_KEY: 'sk-upstream-secret', RATCHET_BODY_LIMIT_BYTES: '65536' },
  });
  client = ratchet.client(await ratchet.newKey());
});

afterAll(async () => {
  await ratchet?.close();
  await upstream?.close();
});

describe('POST /v1/responses (foreground)', () => {
  it('runs a mock model step and returns the whole Response object', async () => {
    const response = await client.responses.create({ model: 'mock', input: 'Hello, ratchet!' });

    // output_text is the SDK's own convenience property, not part of the wire object.
    expect(
      Object.keys(response)
        .filter((key) => key !== 'output_text')
        .sort(),
    ).toEqual(RESPONSE_KEYS);
    expect(response.id).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('You said: Hello, ratchet!');
    expect(response.output[0]).toMatchObject({
      type: 'message',
      role: 'assistant',
      status: 'completed',
    });
    expect(response.output[0].id).toMatch(/^msg_/);
    expect(response.completed_at).toBeGreaterThanOrEqual(response.created_at);
    expect(response.usage).toEqual({
      input_tokens: 4,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 11,
    });
  });

  it('calls an openai-chat upstream with the request and reports its usage', async () => {
    upstream.enqueue({
      kind: 'json',
      body: chatCompletion({
        text: 'Bonjour!',
        usage: { prompt_tokens: 21, completion_tokens: 3, cached: 5, reasoning: 1 },
      }),
    });
    const before = upstream.requests.length;
    const response = await client.responses.create({
      model: 'upstream',
      instructions: 'Answer in French.',
      input: [{ role: 'user', content: 'Hello' }],
      metadata: { ticket: 'T-1' },
      temperature: 0.2,
    });

    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('Bonjour!');
    expect(response.instructions).toBe('Answer in French.');
    expect(response.metadata).toEqual({ ticket: 'T-1' });
    expect(response.temperature).toBe(0.2);
    expect(response.usage).toEqual({
      input_tokens: 21,
      input_tokens_details: { cached_tokens: 5 },
      output_tokens: 3,
      output_tokens_details: { reasoning_tokens: 1 },
      total_tokens: 24,
    });
    const sent = upstream.requests[before];
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer sk-upstream-secret');
    expect(sent.body).toMatchObject({
      model: 'upstream-model',
      temperature: 0.2,
      messages: [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: 'Hello' },
      ],
    });
  });

  it('passes sampling, output limits, reasoning effort and text.format json_schema to the upstream', async () => {
    const before = upstream.requests.length;
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string' } },
      required: ['answer'],
    };
    const response = await client.responses.create({
      model: 'upstream',
      input: 'Answer in JSON.',
      top_p: 0.5,
      max_output_tokens: 64,
      reasoning: { effort: 'low' },
      text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } },
    });
    expect(response.text?.format).toEqual({
      type: 'json_schema',
      name: 'answer',
      schema,
      strict: true,
    });
    expect(response.max_output_tokens).toBe(64);
    expect(upstream.requests[before].body).toMatchObject({
      top_p: 0.5,
      max_completion_tokens: 64,
      reasoning_effort: 'low',
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema, strict: true },
      },
    });
  });

  it('does not keep a response created with store: false for retrieval', async () => {
    const response = await client.responses.create({
      model: 'mock',
      input: 'forget me',
      store: false,
    });
    expect(response.status).toBe('completed');
    expect((response as unknown as { store: boolean }).store).toBe(false);
    await expect(client.responses.retrieve(response.id)).rejects.toBeInstanceOf(
      OpenAI.NotFoundError,
    );
  });

  it('continues a conversation with previous_response_id, without carrying instructions', async () => {
    const first = await client.responses.create({
      model: 'upstream',
      instructions: 'Be terse.',
      input: 'My name is Ada.',
    });
    const before = upstream.requests.length;
    const second = await client.responses.create({
      model: 'upstream',
      previous_response_id: first.id,
      input: 'What is my name?',
    });

    expect(second.previous_response_id).toBe(first.id);
    expect(second.instructions).toBeNull();
    expect(upstream.requests[before].body.messages).toEqual([
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Hello from upstream.' },
      { role: 'user', content: 'What is my name?' },
    ]);
  });

  it('ends the response failed with an error object when the upstream fails', async () => {
    upstream.enqueue({
      kind: 'json',
      status: 400,
      body: { error: { message: 'The upstream refused.', type: 'invalid_request_error' } },
    });
    const response = await client.responses.create({ model: 'upstream', input: 'hi' });

    expect(response.status).toBe('failed');
    expect(response.error?.code).toBe('upstream_error');
    expect(response.error?.message).toContain('The upstream refused.');
    expect(response.output).toEqual([]);
  });

  it('retries an upstream 500 and completes', async () => {
    upstream.enqueue({ kind: 'json', status: 500, body: { error: { message: 'try again' } } });
    const before = upstream.requests.length;
    const response = await client.responses.create({ model: 'upstream', input: 'hi' });
    expect(response.status).toBe('completed');
    expect(upstream.requests.length - before).toBe(2);
  });

  it('moves to the fallback model when a model stays unreachable', async () => {
    const before = upstream.requests.length;
    const response = await client.responses.create({ model: 'with-fallback', input: 'hi' });
    expect(response.status).toBe('completed');
    expect(response.model).toBe('with-fallback');
    expect(upstream.requests.slice(before).map((r) => r.body.model)).toEqual(['backup-model']);
  });

  it('fails, not hangs, when the upstream cannot be reached', async () => {
    const response = await client.responses.create({ model: 'unreachable', input: 'hi' });
    expect(response.status).toBe('failed');
    expect(response.error?.code).toBe('upstream_unreachable');
  });

  it('returns background responses at once, queued, and finishes them', async () => {
    const queued = await client.responses.create({
      model: 'mock',
      input: 'later',
      background: true,
    });
    expect(queued.status).toBe('queued');
    expect(queued.background).toBe(true);

    const deadline = Date.now() + 10_000;
    let current = queued;
    while (current.status === 'queued' || current.status === 'in_progress') {
      if (Date.now() > deadline) throw new Error(`still ${current.status} after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      current = await client.responses.retrieve(queued.id);
    }
    expect(current.status).toBe('completed');
    expect(current.output_text).toBe('You said: later');
  });
});

describe('GET /v1/responses/{id}', () => {
  it('returns the stored response', async () => {
    const created = await client.responses.create({ model: 'mock', input: 'keep me' });
    const retrieved = await client.responses.retrieve(created.id);
    expect(retrieved.id).toBe(created.id);
    expect(retrieved.output).toEqual(created.output);
    expect(retrieved.usage).toEqual(created.usage);
  });

  it('answers without an ETag: no hash of each answer that no client revalidates with', async () => {
    const created = await client.responses
      .create({ model: 'mock', input: 'untagged' })
      .withResponse();
    expect(created.response.headers.get('etag')).toBeNull();
    const retrieved = await client.responses.retrieve(created.data.id).withResponse();
    expect(retrieved.data.id).toBe(created.data.id);
    expect(retrieved.response.headers.get('etag')).toBeNull();
  });

  it("answers 404 for an unknown id, in OpenAI's words", async () => {
    const error = await client.responses.retrieve('resp_doesnotexist').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({
      message: "Response with id 'resp_doesnotexist' not found.",
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
  });

  it("hides one tenant's responses from another; the admin key sees them", async () => {
    const created = await client.responses.create({ model: 'mock', input: 'private' });
    const other = ratchet.client(await ratchet.newKey('other tenant'));
    await expect(other.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const admin = ratchet.client(ratchet.adminKey);
    expect((await admin.responses.retrieve(created.id)).id).toBe(created.id);
  });
});

describe('errors', () => {
  async function errorOf(
    body: unknown,
  ): Promise<{ status: number; error: Record<string, unknown> }> {
    const response = await ratchet.request('/v1/responses', {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: response.status,
      error: ((await response.json()) as { error: Record<string, unknown> }).error,
    };
  }

  it('rejects an unknown model with model_not_found', async () => {
    const error = await client.responses
      .create({ model: 'gpt-nope', input: 'x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toEqual({
      message: "The model 'gpt-nope' does not exist.",
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    });
  });

  it.each([
    [{ input: 'x' }, 'model'],
    [{ model: 'mock', input: 42 }, 'input'],
    [{ model: 'mock', input: [{ role: 'user', content: 7 }] }, 'input[0].content'],
    [{ model: 'mock', input: [{ type: 'nonsense' }] }, 'input[0].type'],
    [{ model: 'mock', input: 'x', temperature: 'hot' }, 'temperature'],
    [{ model: 'mock', input: 'x', max_output_tokens: 3 }, 'max_output_tokens'],
    [{ model: 'mock', input: 'x', metadata: { k: 'v'.repeat(513) } }, 'metadata.k'],
    [{ model: 'mock', input: 'x', surprise: true }, 'surprise'],
    [{ model: 'mock', input: 'x', background: true, store: false }, 'background'],
    [
      { model: 'mock', input: 'x', tools: [{ type: 'function', name: 'bad name' }] },
      'tools[0].name',
    ],
  ])('answers 400 naming the field for %j', async (body, param) => {
    const { status, error } = await errorOf(body);
    expect(status).toBe(400);
    expect(error).toMatchObject({ type: 'invalid_request_error', param });
    expect(error.message).toEqual(expect.stringContaining(param));
  });

  it('answers 400 for a body that is not JSON', async () => {
    const { status, error } = await errorOf('{"model": ');
    expect(status).toBe(400);
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
  });

  it('answers 413 for a body over the size limit', async () => {
    const { status, error } = await errorOf({ model: 'mock', input: 'x'.repeat(70_000) });
    expect(status).toBe(413);
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
  });

  it('answers 401 without a key and with a wrong key', async () => {
    const missing = await ratchet.request('/v1/responses/resp_x', { key: null });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe(
      'missing_api_key',
    );

    const wrong = ratchet.client('rk-not-a-real-key');
    await expect(wrong.responses.create({ model: 'mock', input: 'x' })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
  });

  it('answers unknown routes with a 404 envelope', async () => {
    const response = await ratchet.request('/v1/nothing-here');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
  });
});

describe('models and health', () => {
  it('lists the configured models', async () => {
    const models = await client.models.list();
    expect(models.data.map((model) => model.id)).toEqual([
      'mock',
      'upstream',
      'unreachable',
      'with-fallback',
      'backup',
    ]);
    expect(models.data[1]).toMatchObject({ object: 'model', owned_by: 'openai-chat' });
  });

  it('answers /healthz and /readyz without a key', async () => {
    const health = await ratchet.request('/healthz', { key: null });
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await ratchet.request('/readyz', { key: null });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', postgres: 'ok', redis: 'ok' });
  });
});
