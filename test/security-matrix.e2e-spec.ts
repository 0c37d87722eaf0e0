import { randomBytes } from 'node:crypto';
import { ApiKeysRepository } from '@ratchet/store';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { ResponsesSocket, UpgradeRefused } from './support/websocket-client';

// Every endpoint against every kind of caller: no key, a malformed header, a wrong key, a
// revoked key, another tenant's key, the admin key and the owner's key. Another tenant's
// resource answers exactly as a resource that does not exist.

let ratchet: TestRatchet;
let revokedKey: string;

beforeAll(async () => {
  ratchet = await startRatchet('security_matrix');
  const keys = ratchet.api.get(ApiKeysRepository);
  const revoked = await keys.create('revoked');
  // Revoked before its first use, so no key check is cached.
  await keys.revoke(revoked.id);
  revokedKey = revoked.secret;
});

afterAll(async () => {
  await ratchet?.close();
});

interface Fixture {
  owner: string;
  stranger: string;
  response: string;
  conversation: string;
  item: string;
}

async function json(
  path: string,
  key: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
): Promise<Record<string, unknown>> {
  const answer = await ratchet.request(path, {
    method,
    key,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(answer.status).toBe(200);
  return (await answer.json()) as Record<string, unknown>;
}

/** A tenant with a response and a conversation with one item, and another tenant. */
async function fixture(): Promise<Fixture> {
  const owner = await ratchet.newKey('owner');
  const stranger = await ratchet.newKey('stranger');
  const response = await json('/v1/responses', owner, { model: 'mock', input: 'private' });
  const conversation = await json('/v1/conversations', owner, {
    items: [{ type: 'message', role: 'user', content: 'private' }],
  });
  const items = (await json(`/v1/conversations/${conversation.id as string}/items`, owner)) as {
    data: { id: string }[];
  };
  return {
    owner,
    stranger,
    response: response.id as string,
    conversation: conversation.id as string,
    item: items.data[0].id,
  };
}

interface Endpoint {
  method: string;
  path: (f: Fixture) => string;
  body?: unknown;
  /** What the owner (and the admin) get. */
  ok: number;
  /** Whether it names a tenant's resource (so a stranger must get a 404). */
  owned: boolean;
  public?: boolean;
  /**
   * An operator route: only admin keys are served; every tenant key (owner or not) gets
   * exactly what an unknown route answers.
   */
  admin?: boolean;
}

const ENDPOINTS: Endpoint[] = [
  { method: 'GET', path: () => '/healthz', ok: 200, owned: false, public: true },
  { method: 'GET', path: () => '/readyz', ok: 200, owned: false, public: true },
  { method: 'GET', path: () => '/v1/models', ok: 200, owned: false },
  { method: 'GET', path: () => '/v1/models/mock', ok: 200, owned: false },
  {
    method: 'POST',
    path: () => '/v1/responses',
    body: { model: 'mock', input: 'hi' },
    ok: 200,
    owned: false,
  },
  {
    method: 'POST',
    path: () => '/v1/responses',
    body: { model: 'mock', input: 'hi', previous_response_id: '{response}' },
    ok: 200,
    owned: true,
  },
  {
    method: 'POST',
    path: () => '/v1/responses/compact',
    body: { model: 'mock', input: 'hi' },
    ok: 200,
    owned: false,
  },
  {
    method: 'POST',
    path: () => '/v1/responses/compact',
    body: { model: 'mock', previous_response_id: '{response}' },
    ok: 200,
    owned: true,
  },
  { method: 'GET', path: (f) => `/v1/responses/${f.response}`, ok: 200, owned: true },
  {
    method: 'GET',
    path: (f) => `/v1/responses/${f.response}?stream=true`,
    // The fixture's response was not created with stream: true, so it has no event stream.
    ok: 400,
    owned: true,
  },
  { method: 'GET', path: (f) => `/v1/responses/${f.response}/steps`, ok: 200, owned: true },
  { method: 'GET', path: (f) => `/v1/responses/${f.response}/input_items`, ok: 200, owned: true },
  // Only background responses can be cancelled.
  { method: 'POST', path: (f) => `/v1/responses/${f.response}/cancel`, ok: 400, owned: true },
  { method: 'DELETE', path: (f) => `/v1/responses/${f.response}`, ok: 200, owned: true },
  { method: 'POST', path: () => '/v1/conversations', body: {}, ok: 200, owned: false },
  {
    method: 'POST',
    path: () => '/v1/responses',
    body: { model: 'mock', input: 'hi', conversation: '{conversation}' },
    ok: 200,
    owned: true,
  },
  { method: 'GET', path: (f) => `/v1/conversations/${f.conversation}`, ok: 200, owned: true },
  {
    method: 'POST',
    path: (f) => `/v1/conversations/${f.conversation}`,
    body: { metadata: { a: 'b' } },
    ok: 200,
    owned: true,
  },
  {
    method: 'GET',
    path: (f) => `/v1/conversations/${f.conversation}/items`,
    ok: 200,
    owned: true,
  },
  {
    method: 'POST',
    path: (f) => `/v1/conversations/${f.conversation}/items`,
    body: { items: [{ role: 'user', content: 'more' }] },
    ok: 200,
    owned: true,
  },
  {
    method: 'GET',
    path: (f) => `/v1/conversations/${f.conversation}/items/${f.item}`,
    ok: 200,
    owned: true,
  },
  {
    method: 'DELETE',
    path: (f) => `/v1/conversations/${f.conversation}/items/${f.item}`,
    ok: 200,
    owned: true,
  },
  { method: 'DELETE', path: (f) => `/v1/conversations/${f.conversation}`, ok: 200, owned: true },
  { method: 'GET', path: () => '/v1/admin/stuck', ok: 200, owned: false, admin: true },
  {
    method: 'POST',
    path: () => '/v1/admin/responses/requeue',
    body: { ids: ['{response}'], dry_run: true },
    ok: 200,
    owned: false,
    admin: true,
  },
  {
    method: 'POST',
    path: () => '/v1/admin/responses/cancel',
    body: { ids: ['{response}'], dry_run: true },
    ok: 200,
    owned: false,
    admin: true,
  },
  { method: 'GET', path: () => '/v1/admin/workers', ok: 200, owned: false, admin: true },
  // No worker has this id (draining the one worker here would stop the other cases): the
  // admin's 404 names the worker; a tenant's is the unknown route's.
  {
    method: 'POST',
    path: () => '/v1/admin/workers/nobody:1:000000/drain',
    ok: 404,
    owned: false,
    admin: true,
  },
  {
    method: 'POST',
    path: () => '/v1/admin/purge',
    body: { older_than: '30d', dry_run: true },
    ok: 200,
    owned: false,
    admin: true,
  },
  { method: 'GET', path: () => '/v1/admin/audit', ok: 200, owned: false, admin: true },
  { method: 'GET', path: () => '/v1/admin/overview', ok: 200, owned: false, admin: true },
];

/** The ids of `f` swapped for ids that exist nowhere, of the same shape. */
function missing(f: Fixture): Fixture {
  const swap = (id: string): string =>
    id.replace(
      /_[0-9a-zA-Z]+$/,
      (tail) =>
        `_${randomBytes(tail.length)
          .toString('hex')
          .slice(0, tail.length - 1)}`,
    );
  return {
    ...f,
    response: swap(f.response),
    conversation: swap(f.conversation),
    item: swap(f.item),
  };
}

interface Outcome {
  status: number;
  error: Record<string, unknown> | null;
}

async function call(
  endpoint: Endpoint,
  f: Fixture,
  authorization: string | null,
): Promise<Outcome> {
  const fill = (text: string): string =>
    text.replace('{response}', f.response).replace('{conversation}', f.conversation);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== null) headers.authorization = authorization;
  const answer = await fetch(`${ratchet.url}${endpoint.path(f)}`, {
    method: endpoint.method,
    headers,
    body: endpoint.body === undefined ? undefined : fill(JSON.stringify(endpoint.body)),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await answer.text();
  expect(answer.headers.get('x-request-id')).toBeTruthy();
  let error: Record<string, unknown> | null = null;
  if (answer.status >= 400) {
    error = (JSON.parse(text) as { error: Record<string, unknown> }).error;
    // Messages name the id asked for; the comparison is of everything else.
    error.message = String(error.message)
      .replaceAll(f.response, '<response>')
      .replaceAll(f.conversation, '<conversation>')
      .replaceAll(f.item, '<item>');
  }
  return { status: answer.status, error };
}

describe.each(
  ENDPOINTS.map(
    (endpoint) =>
      [
        `${endpoint.method} ${endpoint.path({ response: '{response}', conversation: '{conversation}', item: '{item}', owner: '', stranger: '' })}${endpoint.body ? ` ${JSON.stringify(endpoint.body)}` : ''}`,
        endpoint,
      ] as const,
  ),
)('%s', (_name, endpoint) => {
  it('answers each kind of caller as it should', async () => {
    const f = await fixture();
    const refused = (outcome: Outcome, code: string): void => {
      expect(outcome.status).toBe(401);
      expect(outcome.error).toMatchObject({ type: 'invalid_request_error', code });
    };
    const callers: [string, string | null, (outcome: Outcome) => void][] = [
      ['no key', null, (o) => refused(o, 'missing_api_key')],
      [
        'malformed header',
        `Basic ${Buffer.from(`x:${f.owner}`).toString('base64')}`,
        (o) => refused(o, 'missing_api_key'),
      ],
      ['empty bearer', 'Bearer ', (o) => refused(o, 'missing_api_key')],
      [
        'wrong key',
        `Bearer rk-${randomBytes(32).toString('base64url')}`,
        (o) => refused(o, 'invalid_api_key'),
      ],
      ['revoked key', `Bearer ${revokedKey}`, (o) => refused(o, 'invalid_api_key')],
    ];
    for (const [caller, authorization, expectation] of callers) {
      const outcome = await call(endpoint, f, authorization);
      if (endpoint.public)
        expect({ caller, status: outcome.status }).toEqual({ caller, status: endpoint.ok });
      else expectation(outcome);
    }

    // Another tenant: as if the resource did not exist.
    const stranger = await call(endpoint, f, `Bearer ${f.stranger}`);
    if (endpoint.admin) {
      // Tenants, the owner too, get what an unknown route answers: no hint it exists.
      const pathname = new URL(endpoint.path(f), ratchet.url).pathname;
      const unknownRoute = {
        status: 404,
        error: {
          message: `Unknown request URL: ${endpoint.method} ${pathname}.`,
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      };
      expect(stranger).toEqual(unknownRoute);
      expect(await call(endpoint, f, `Bearer ${f.owner}`)).toEqual(unknownRoute);
      expect((await call(endpoint, f, `Bearer ${ratchet.adminKey}`)).status).toBe(endpoint.ok);
      return;
    }
    if (endpoint.owned) {
      const nonexistent = await call(endpoint, missing(f), `Bearer ${f.owner}`);
      expect(stranger.status).toBe(404);
      expect(stranger).toEqual(nonexistent);
    } else {
      expect(stranger.status).toBe(endpoint.ok);
    }

    // The admin sees every tenant's resources; the owner its own (each on a fresh fixture
    // where the call changes what it names).
    expect((await call(endpoint, f, `Bearer ${ratchet.adminKey}`)).status).toBe(endpoint.ok);
    const fresh = endpoint.method === 'DELETE' ? await fixture() : f;
    expect((await call(endpoint, fresh, `Bearer ${fresh.owner}`)).status).toBe(endpoint.ok);
  });
});

describe('WebSocket upgrade', () => {
  const refusal = async (authorization: string | null): Promise<UpgradeRefused> => {
    const error = await ResponsesSocket.open(ratchet.url, authorization).then(
      async (socket) => {
        await socket.close();
        return new Error('the upgrade was accepted');
      },
      (caught: unknown) => caught,
    );
    if (!(error instanceof UpgradeRefused)) throw error;
    return error;
  };

  it('refuses no key, a wrong key and a revoked key with a 401 in the envelope', async () => {
    for (const key of [null, `rk-${randomBytes(32).toString('base64url')}`, revokedKey]) {
      const refused = await refusal(key);
      expect(refused.status).toBe(401);
      expect(refused.body).toMatchObject({ error: { type: 'invalid_request_error' } });
    }
  });

  it("accepts a tenant and the admin; another tenant's response is as missing as none", async () => {
    const f = await fixture();
    for (const key of [f.stranger, ratchet.adminKey]) {
      const socket = await ResponsesSocket.open(ratchet.url, key);
      try {
        const turn = async (previous: string) =>
          (
            await socket.turn({
              type: 'response.create',
              model: 'mock',
              input: 'x',
              previous_response_id: previous,
            })
          ).at(-1);
        const foreign = await turn(f.response);
        if (key === ratchet.adminKey) {
          expect(foreign?.type).toBe('response.completed');
        } else {
          const none = await turn(missing(f).response);
          expect(foreign?.type).toBe('error');
          const strip = (message: unknown) =>
            JSON.stringify(message).replace(/resp_[0-9a-f]+/g, '<id>');
          expect(strip(foreign)).toBe(strip(none));
        }
      } finally {
        await socket.close();
      }
    }
  });
});
