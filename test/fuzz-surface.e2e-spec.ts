import { createResponseSchema } from '@ratchet/core';
import fc from 'fast-check';
import { contractBreach, send, sendRaw, watchProcess } from './support/fuzz-http';
import { arbitraryOf } from './support/fuzz-schema';
import {
  authorization,
  extraHeaders,
  pathId,
  queryString,
  rawRequest,
  ROUTES,
  strayRoute,
  upgradeRequest,
  type Route,
} from './support/fuzz-surface';
import {
  fuzzParameters,
  fuzzTestTimeout,
  mutate,
  mutation,
  toJsonText,
} from './support/fuzz-values';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { ResponsesSocket, type WsMessage } from './support/websocket-client';

// Property-based fuzzing of everything around the body: every route of the controllers (and
// routes that do not exist) with hostile path ids, query strings and headers; raw HTTP that
// Node's parser refuses; WebSocket upgrades and messages. Same contract as the body fuzzing:
// a 2xx or a 4xx in OpenAI's envelope with an x-request-id, never a 5xx, never a hang.

const BODY_LIMIT_BYTES = 65_536;

jest.setTimeout(fuzzTestTimeout());

let ratchet: TestRatchet;
let key: string;
let watch: ReturnType<typeof watchProcess>;
const real = { responses: [] as string[], conversations: [] as string[], items: [] as string[] };

beforeAll(async () => {
  watch = watchProcess();
  ratchet = await startRatchet('fuzz_surface', {
    env: { RATCHET_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES) },
  });
  key = await ratchet.newKey();
  const json = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const answer = await ratchet.request(path, { method: 'POST', key, body: JSON.stringify(body) });
    return (await answer.json()) as Record<string, unknown>;
  };
  for (const input of ['one', 'two']) {
    real.responses.push((await json('/v1/responses', { model: 'mock', input })).id as string);
  }
  const conversation = await json('/v1/conversations', {
    items: [{ type: 'message', role: 'user', content: 'hello' }],
  });
  real.conversations.push(conversation.id as string);
  const items = await (
    await ratchet.request(`/v1/conversations/${conversation.id as string}/items`, { key })
  ).json();
  real.items.push(...(items as { data: { id: string }[] }).data.map((item) => item.id));
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

const smallBody = arbitraryOf(createResponseSchema, {
  model: fc.constant('mock'),
  input: fc.constantFrom('hi', undefined),
  previous_response_id: fc.constant(undefined),
  conversation: fc.constant(undefined),
  background: fc.constant(undefined),
  tools: fc.constant(undefined),
  include: fc.constant(undefined),
});

const bodyText: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('{}', '{"model":"mock","input":"hi"}', '{"metadata":{"a":"b"}}', '{"items":[]}'),
  fc
    .tuple(smallBody, fc.array(mutation, { maxLength: 2 }))
    .map(([body, changes]) => toJsonText(mutate(body, changes))),
);

function fill(route: Route, id: string, item: string): string {
  const safe = route.destructive
    ? (value: string) =>
        real.responses.includes(value) ||
        real.conversations.includes(value) ||
        real.items.includes(value)
          ? 'x_missing'
          : value
    : (value: string) => value;
  return route.path.replace('{id}', safe(id)).replace('{item}', safe(item));
}

describe('HTTP routes', () => {
  it('answers every route with hostile ids, query strings and headers within the contract', async () => {
    const ids = pathId([...real.responses, ...real.conversations, 'mock']);
    const itemIds = pathId(real.items);
    const route = fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...ROUTES) },
      { weight: 1, arbitrary: strayRoute },
    );
    await fc.assert(
      fc.asyncProperty(
        route,
        ids,
        itemIds,
        queryString,
        authorization(key),
        extraHeaders,
        bodyText,
        async (target, id, item, query, auth, headers, body) => {
          const path = `${fill(target, id, item)}${query}`;
          const withBody =
            target.method !== 'GET' && target.method !== 'HEAD' && body !== undefined;
          const answer = await send(`${ratchet.url}${path}`, {
            method: target.method,
            headers: { ...headers, ...(auth !== undefined ? { authorization: auth } : {}) },
            body: withBody ? body : undefined,
          });
          if (target.method === 'HEAD' || answer.status === 204 || answer.status === 304) {
            // No body to judge; still no server error and a request id.
            expect(answer.status).toBeLessThan(500);
            return;
          }
          const breach = contractBreach(answer);
          if (breach) throw new Error(`${target.method} ${path}: ${breach}`);
        },
      ),
      fuzzParameters(900),
    );
  });
});

describe('raw HTTP', () => {
  it("answers what Node's HTTP parser refuses in the envelope, and never hangs", async () => {
    await fc.assert(
      fc.asyncProperty(rawRequest(key), async ({ bytes, complete }) => {
        const answer = await sendRaw(ratchet.url, Buffer.from(bytes, 'latin1'), !complete);
        if (answer === null) {
          if (complete) throw new Error(`no answer to ${JSON.stringify(bytes.slice(0, 200))}`);
          return;
        }
        const breach = contractBreach(answer);
        if (breach) throw new Error(`${JSON.stringify(bytes.slice(0, 200))}: ${breach}`);
      }),
      fuzzParameters(150),
    );
  });
});

describe('WebSocket', () => {
  it('answers every upgrade request: switching protocols, or an error in the envelope', async () => {
    await fc.assert(
      fc.asyncProperty(upgradeRequest(key), async (request) => {
        const answer = await sendRaw(ratchet.url, request, false);
        if (answer === null) throw new Error(`no answer to ${JSON.stringify(request)}`);
        const breach = contractBreach(answer);
        if (breach) throw new Error(`${JSON.stringify(request)}: ${breach}`);
      }),
      fuzzParameters(150),
    );
  });

  it('answers every message on an open socket with an error or a whole turn', async () => {
    let socket = await ResponsesSocket.open(ratchet.url, key);
    const message = fc.oneof(
      fc
        .tuple(smallBody, fc.array(mutation, { maxLength: 2 }))
        .map(([body, changes]) =>
          toJsonText(
            mutate({ type: 'response.create', ...(body as object), stream: undefined }, changes),
          ),
        ),
      fc.constantFrom('', '{', 'null', '[]', '{"type":"x"}', '{"type":"response.create"}'),
    );
    try {
      await fc.assert(
        fc.asyncProperty(message, async (text) => {
          if (socket.socket.readyState !== socket.socket.OPEN) {
            socket = await ResponsesSocket.open(ratchet.url, key);
          }
          socket.socket.send(text);
          if (Buffer.byteLength(text) > BODY_LIMIT_BYTES) {
            // Past the message limit ws closes the connection with 1009, as it should.
            expect((await socket.closed).code).toBe(1009);
            return;
          }
          const turn: WsMessage[] = await socket.turnMessages(10_000);
          const last = turn[turn.length - 1];
          if (last.type === 'error' && (last.status as number) >= 500) {
            throw new Error(`${text.slice(0, 200)}: ${JSON.stringify(last)}`);
          }
        }),
        fuzzParameters(150),
      );
    } finally {
      await socket.close();
    }
  });
});

describe('edges the fuzzing found', () => {
  const errorOf = (body: string): Record<string, unknown> =>
    (JSON.parse(body) as { error: Record<string, unknown> }).error;

  it('answers a NUL in a path id as an id that names nothing', async () => {
    const answer = await send(`${ratchet.url}/v1/responses/resp_%00/input_items`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(answer.status).toBe(404);
    expect(errorOf(answer.body).message).toBe("Response with id 'resp_\ufffd' not found.");
  });

  it('answers an HTTP/1.1 request without Host, and one Node cannot parse, in the envelope', async () => {
    for (const [bytes, status, code] of [
      ['GET /v1/models HTTP/1.1\r\n\r\n', 400, 'missing_host_header'],
      ['GARBAGE\r\n\r\n', 400, 'invalid_http_request'],
      [
        `GET /v1/models HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
        'headers_too_large',
      ],
    ] as const) {
      const answer = await sendRaw(ratchet.url, bytes, false);
      expect(answer?.status).toBe(status);
      expect(answer?.headers['x-request-id']).toMatch(/^req_/);
      expect(errorOf(answer?.body ?? '').code).toBe(code);
    }
  });

  it('refuses a malformed WebSocket handshake in the envelope, naming the header', async () => {
    const answer = await sendRaw(
      ratchet.url,
      `GET /v1/responses HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      false,
    );
    expect(answer?.status).toBe(400);
    expect(errorOf(answer?.body ?? '')).toMatchObject({
      param: 'Sec-WebSocket-Key',
      code: 'invalid_websocket_handshake',
    });
  });

  it("keeps a client's x-request-id and makes one otherwise", async () => {
    const kept = await send(`${ratchet.url}/healthz`, { headers: { 'x-request-id': 'trace-42' } });
    expect(kept.headers['x-request-id']).toBe('trace-42');
    const made = await send(`${ratchet.url}/v1/nope`, { headers: { 'x-request-id': 'a b' } });
    expect(made.status).toBe(404);
    expect(made.headers['x-request-id']).toMatch(/^req_[0-9a-f]{32}$/);
  });
});
