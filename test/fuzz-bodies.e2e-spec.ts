import {
  addConversationItemsSchema,
  compactRequestSchema,
  createConversationSchema,
  createResponseSchema,
  updateConversationSchema,
} from '@ratchet/core';
import fc from 'fast-check';
import type { z } from 'zod';
import { contractBreach, send, watchProcess, type Answer } from './support/fuzz-http';
import { arbitraryOf, type Overrides } from './support/fuzz-schema';
import {
  fuzzParameters,
  fuzzTestTimeout,
  hostileValue,
  mutate,
  mutation,
  oddString,
  toJsonText,
} from './support/fuzz-values';
import { startRatchet, type TestRatchet } from './support/ratchet';

// Property-based fuzzing of request bodies: bodies drawn from the zod schemas the API
// validates with, then mutated (wrong types, extreme numbers, odd Unicode, deep and wide
// nesting, duplicate and prototype keys). Every answer must be a 2xx or a 4xx in OpenAI's
// error envelope, with `param` naming a faulty field; never a 5xx, never a hang; and the
// process stays healthy. RATCHET_FUZZ_SCALE multiplies the budget, RATCHET_FUZZ_SEED replays.

const BODY_LIMIT_BYTES = 256 * 1024;

jest.setTimeout(fuzzTestTimeout());

let ratchet: TestRatchet;
let key: string;
let conversationId: string;
let watch: ReturnType<typeof watchProcess>;

beforeAll(async () => {
  watch = watchProcess();
  ratchet = await startRatchet('fuzz_bodies', {
    env: { RATCHET_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES) },
  });
  key = await ratchet.newKey();
  const created = await send(`${ratchet.url}/v1/conversations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: '{}',
  });
  conversationId = (JSON.parse(created.body) as { id: string }).id;
});

afterEach(async () => {
  const health = await send(`${ratchet.url}/healthz`);
  expect(health.status).toBe(200);
  expect(watch.problems).toEqual([]);
});

afterAll(async () => {
  watch?.stop();
  await ratchet?.close();
});

/** Short inputs keep accepted requests cheap for the mock model. */
const responseOverrides: Overrides = {
  model: fc.oneof(
    { weight: 6, arbitrary: fc.constant('mock') },
    { weight: 1, arbitrary: oddString },
  ),
  previous_response_id: fc.constantFrom(undefined, undefined, undefined, null, 'resp_missing', ''),
  conversation: fc.constantFrom(undefined, undefined, undefined, null, 'conv_missing', {
    id: 'conv_missing',
  }),
  include: fc.constantFrom(undefined, null, [], ['message.output_text.logprobs']),
  max_output_tokens: fc.constantFrom(undefined, null, 16, 64),
  max_tool_calls: fc.constantFrom(undefined, null, 1, 2),
};

/** POST `body` (a value, or JSON text as it is) and check the answer against the contract. */
async function post(
  path: string,
  body: unknown,
  contentType = 'application/json',
): Promise<Answer> {
  const answer = await send(`${ratchet.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': contentType },
    body: typeof body === 'string' ? body : toJsonText(body),
  });
  const breach = contractBreach(answer);
  if (breach) throw new Error(`POST ${path}: ${breach}`);
  return answer;
}

/** A background response left running would hold the worker; cancel it. */
async function settle(answer: Answer): Promise<void> {
  if (answer.status !== 200 || !answer.headers['content-type']?.includes('json')) return;
  const response = JSON.parse(answer.body) as { id?: string; status?: string };
  if (response.id && (response.status === 'queued' || response.status === 'in_progress')) {
    await send(`${ratchet.url}/v1/responses/${response.id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
  }
}

/** Schema-drawn bodies, then the same bodies with 1-3 mutations. */
function bodies(schema: z.ZodType, overrides: Overrides = {}): fc.Arbitrary<unknown> {
  const valid = arbitraryOf(schema, overrides);
  return fc.oneof(
    { weight: 1, arbitrary: valid },
    {
      weight: 3,
      arbitrary: fc
        .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }))
        .map(([body, changes]) => mutate(body, changes)),
    },
  );
}

const endpoints: [string, () => string, z.ZodType, Overrides, number][] = [
  ['POST /v1/responses', () => '/v1/responses', createResponseSchema, responseOverrides, 500],
  [
    'POST /v1/responses/compact',
    () => '/v1/responses/compact',
    compactRequestSchema,
    { model: responseOverrides.model, previous_response_id: fc.constantFrom(undefined, null) },
    250,
  ],
  ['POST /v1/conversations', () => '/v1/conversations', createConversationSchema, {}, 250],
  [
    'POST /v1/conversations/{id}',
    () => `/v1/conversations/${conversationId}`,
    updateConversationSchema,
    {},
    150,
  ],
  [
    'POST /v1/conversations/{id}/items',
    () => `/v1/conversations/${conversationId}/items`,
    addConversationItemsSchema,
    {},
    250,
  ],
];

describe.each(endpoints)('%s', (_name, path, schema, overrides, runs) => {
  it('answers every body drawn from its schema, or mutated from one, within the contract', async () => {
    await fc.assert(
      fc.asyncProperty(bodies(schema, overrides), async (body) => {
        await settle(await post(path(), body));
      }),
      fuzzParameters(runs),
    );
  });
});

describe('any body', () => {
  it('answers hostile JSON of any shape, and text that is not JSON, within the contract', async () => {
    const anyBody = fc.oneof(
      hostileValue.map(toJsonText),
      fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
      fc.string({ unit: 'binary', maxLength: 64 }),
      fc.constantFrom(
        '',
        '{',
        '{"model":"mock","input":"x"',
        '{"model":"mock","model":"mock","input":"x"}',
        '{"__proto__":{"model":"mock"},"input":"x"}',
        '{"constructor":{"prototype":{"polluted":1}}}',
        '\ufeff{"model":"mock","input":"x"}',
        '{"model":"mock","input":"\\ud800"}',
        '{"model":"mock","input":"\\u0000"}',
        '{"model":"mock","input":[{"role":"user","content":"\\udfff\\u0000"}]}',
        'null',
        '[]',
        '"x"',
        '1e400',
      ),
    );
    const paths = fc.constantFrom(
      '/v1/responses',
      '/v1/responses/compact',
      '/v1/conversations',
      '/v1/conversations/conv_missing/items',
    );
    const contentTypes = fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'application/merge-patch+json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    );
    await fc.assert(
      fc.asyncProperty(paths, anyBody, contentTypes, async (path, body, contentType) => {
        await settle(await post(path, body, contentType));
      }),
      fuzzParameters(400),
    );
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('keeps request text Postgres cannot store, as U+FFFD', async () => {
    const answer = await post('/v1/responses', '{"model":"mock","input":"a\\u0000b\\ud800c"}');
    expect(answer.status).toBe(200);
    const response = JSON.parse(answer.body) as { id: string };
    const items = await send(`${ratchet.url}/v1/responses/${response.id}/input_items`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(items.body).toContain('a\\ufffdb\\ufffdc'.replace(/\\ufffd/g, '\ufffd'));
  });
});
