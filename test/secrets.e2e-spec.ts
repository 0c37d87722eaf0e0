import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { PinoLogger } from '@ratchet/config';
import pino from 'pino';
import { startFakeOpenAI, type FakeOpenAI, type RecordedRequest } from './support/fake-openai';
import { withClient } from './support/database';
import { sendRaw } from './support/fuzz-http';
import { startRatchet, type TestRatchet } from './support/ratchet';

// No secret ever reaches a log line or an answer: the upstream's API key (from the config),
// bearer keys (a tenant's, the admin's, a wrong one a client sent), RATCHET_ADMIN_KEY and
// RATCHET_SECRET_KEY. A realistic set of requests runs with every log level captured,
// failures included: bad keys, an upstream that refuses the key and echoes it back, an
// upstream 500 that echoes it too, and a 500 of ratchet's own.

const UPSTREAM_KEY = `sk-upstream-${randomBytes(12).toString('hex')}`;
const SECRET_KEY = randomBytes(32).toString('hex');
const WRONG_KEY = `rk-${randomBytes(32).toString('base64url')}`;

let upstream: FakeOpenAI;
let ratchet: TestRatchet;
const logLines: string[] = [];
const bodies: string[] = [];

/** An upstream error body that repeats every header it was sent, as careless servers do. */
const echo =
  (status: number) =>
  (request: RecordedRequest, response: import('node:http').ServerResponse): void => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        error: {
          message: `Incorrect API key provided: ${String(request.headers.authorization)} (${JSON.stringify(request.headers)})`,
          code: status === 401 ? 'invalid_api_key' : null,
        },
      }),
    );
  };

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString('utf8'));
      done();
    },
  });
  ratchet = await startRatchet('secrets', {
    configYaml: `
models:
  mock: { provider: mock }
  upstream:
    provider: openai-chat
    baseUrl: ${upstream.url}
    apiKey: \${FAKE_UPSTREAM_KEY}
    upstreamModel: upstream-model
`,
    env: { FAKE_UPSTREAM_KEY: UPSTREAM_KEY, RATCHET_SECRET_KEY: SECRET_KEY, LOG_LEVEL: 'trace' },
    logger: new PinoLogger(pino({ level: 'trace' }, sink)),
  });
});

afterAll(async () => {
  await ratchet?.close();
  await upstream?.close();
});

async function call(
  path: string,
  init: RequestInit & { key?: string | null } = {},
): Promise<Response> {
  const answer = await ratchet.request(path, init);
  bodies.push(await answer.clone().text());
  return answer;
}

it('keeps every secret out of logs and answers, failures included', async () => {
  const tenant = await ratchet.newKey();
  const post = (body: unknown, key: string | null = tenant) =>
    call('/v1/responses', { method: 'POST', key, body: JSON.stringify(body) });

  expect((await post({ model: 'mock', input: 'hello' })).status).toBe(200);
  expect((await post({ model: 'mock', input: 'hello', stream: true })).status).toBe(200);
  expect((await post({ model: 'mock', input: 'hello' }, ratchet.adminKey)).status).toBe(200);
  expect((await post({ model: 'mock', input: 'x' }, WRONG_KEY)).status).toBe(401);
  expect((await post({ model: 'mock', input: 'x' }, null)).status).toBe(401);
  expect((await post({ model: 'mock', input: 'x' }, `${ratchet.adminKey}x`)).status).toBe(401);

  // The upstream refuses the key and echoes it, plain and streamed.
  upstream.enqueue({ kind: 'handler', handle: echo(401) }, { kind: 'handler', handle: echo(401) });
  const refused = await post({ model: 'upstream', input: 'hi' });
  const failed = (await refused.json()) as { status: string; error: { message: string } };
  expect(failed.status).toBe('failed');
  // The echo reached ratchet, with the key taken out.
  expect(failed.error.message).toContain('Incorrect API key provided: [redacted]');
  expect((await post({ model: 'upstream', input: 'hi', stream: true })).status).toBe(200);
  // A 500 that echoes it, retried, then an answer.
  upstream.enqueue({ kind: 'handler', handle: echo(500) });
  expect(
    ((await (await post({ model: 'upstream', input: 'hi' })).json()) as { status: string }).status,
  ).toBe('completed');
  // Compaction calls the upstream from the API process.
  upstream.enqueue({ kind: 'handler', handle: echo(401) });
  await call('/v1/responses/compact', {
    method: 'POST',
    key: tenant,
    body: JSON.stringify({ model: 'upstream', input: 'summarise me' }),
  });

  // A WebSocket upgrade with a wrong key.
  const upgrade = await sendRaw(
    ratchet.url,
    `GET /v1/responses HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer ${WRONG_KEY}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    false,
  );
  expect(upgrade?.status).toBe(401);
  bodies.push(upgrade?.body ?? '');

  // A 500 of ratchet's own: its message names the request id, and so does the log.
  await withClient(ratchet.database.url, (client) =>
    client.query('ALTER TABLE conversations RENAME TO conversations_away'),
  );
  try {
    const broken = await call('/v1/conversations', { method: 'POST', key: tenant, body: '{}' });
    expect(broken.status).toBe(500);
    const requestId = broken.headers.get('x-request-id') ?? '';
    expect(requestId).toMatch(/^req_/);
    expect(((await broken.json()) as { error: { message: string } }).error.message).toContain(
      requestId,
    );
    expect(logLines.some((line) => line.includes(requestId))).toBe(true);
  } finally {
    await withClient(ratchet.database.url, (client) =>
      client.query('ALTER TABLE conversations_away RENAME TO conversations'),
    );
  }

  // Let background work (retries, sweeps) log what it will.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(logLines.length).toBeGreaterThan(0);
  const secrets = { UPSTREAM_KEY, SECRET_KEY, WRONG_KEY, adminKey: ratchet.adminKey, tenant };
  for (const [name, secret] of Object.entries(secrets)) {
    const inLogs = logLines.filter((line) => line.includes(secret));
    const inBodies = bodies.filter((body) => body.includes(secret));
    expect({ name, inLogs, inBodies }).toEqual({ name, inLogs: [], inBodies: [] });
  }
});
