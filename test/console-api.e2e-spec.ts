import { Redis } from 'ioredis';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { REDIS_URL, startRatchet, type TestRatchet } from './support/ratchet';

// The console's read endpoints: lists filtered and paged by cursor, one response's whole
// tree, the keys to filter by, and the live feed of changes; each scoped to the caller's key.

let ratchet: TestRatchet;
let tools: FakeTools;

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('console_api', {
    configYaml: `
models:
  mock: { provider: mock }
  other: { provider: mock }
tools:
  slow: { type: http, url: ${tools.url}/sleep, parameters: { type: object, properties: { ms: { type: integer } } } }
  researcher: { type: agent, model: mock, description: A sub-agent, tools: [slow] }
`,
  });
});

afterAll(async () => {
  await ratchet?.close();
  await tools?.close();
});

interface Summary {
  id: string;
  status: string;
  model: string;
  metadata: Record<string, string>;
  api_key: { id: string; name: string };
}
interface Page {
  object: 'list';
  data: Summary[];
  has_more: boolean;
  next_cursor: string | null;
}

async function getJson<T>(path: string, key: string): Promise<{ status: number; body: T }> {
  const answer = await ratchet.request(path, { key });
  return { status: answer.status, body: (await answer.json()) as T };
}

async function create(
  key: string,
  body: Record<string, unknown>,
): Promise<{ id: string; status: string }> {
  const answer = await ratchet.request('/v1/responses', {
    key,
    method: 'POST',
    body: JSON.stringify({ model: 'mock', ...body }),
  });
  expect(answer.status).toBe(200);
  return (await answer.json()) as { id: string; status: string };
}

async function keyId(key: string): Promise<string> {
  const { body } = await getJson<{ api_key: string; admin: boolean }>('/v1/console/session', key);
  return body.api_key;
}

describe('GET /v1/console/responses', () => {
  it("lists a tenant's own responses newest first; the admin sees every tenant's", async () => {
    const a = await ratchet.newKey('tenant-a');
    const b = await ratchet.newKey('tenant-b');
    const a1 = await create(a, { input: 'one' });
    const a2 = await create(a, { input: 'two' });
    const b1 = await create(b, { input: 'three' });

    const mine = await getJson<Page>('/v1/console/responses', a);
    expect(mine.status).toBe(200);
    expect(mine.body.data.map((row) => row.id)).toEqual([a2.id, a1.id]);
    expect(mine.body.data[0]).toMatchObject({
      status: 'completed',
      model: 'mock',
      api_key: { name: 'tenant-a' },
    });

    const theirs = await getJson<Page>('/v1/console/responses', b);
    expect(theirs.body.data.map((row) => row.id)).toEqual([b1.id]);

    const all = await getJson<Page>('/v1/console/responses?limit=100', ratchet.adminKey);
    const ids = all.body.data.map((row) => row.id);
    expect(ids).toEqual(expect.arrayContaining([a1.id, a2.id, b1.id]));
    expect(ids.indexOf(b1.id)).toBeLessThan(ids.indexOf(a2.id));

    const byKey = await getJson<Page>(
      `/v1/console/responses?api_key=${await keyId(b)}`,
      ratchet.adminKey,
    );
    expect(byKey.body.data.map((row) => row.id)).toEqual([b1.id]);
    // A tenant filtering by another tenant's key finds nothing of theirs.
    const prying = await getJson<Page>(`/v1/console/responses?api_key=${await keyId(b)}`, a);
    expect(prying.body.data).toEqual([]);
  });

  it('pages by cursor without losing or repeating a response', async () => {
    const key = await ratchet.newKey();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await create(key, { input: `n${i}` })).id);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `limit=2&after=${cursor}` : 'limit=2';
      const { body }: { body: Page } = await getJson<Page>(`/v1/console/responses?${query}`, key);
      seen.push(...body.data.map((row) => row.id));
      expect(body.has_more).toBe(body.next_cursor !== null);
      cursor = body.next_cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...created].reverse());
  });

  it('filters by status, model, age and metadata', async () => {
    const key = await ratchet.newKey();
    const tagged = await create(key, { input: 'x', metadata: { team: 'search', stage: 'prod' } });
    const other = await create(key, { model: 'other', input: 'y', metadata: { team: 'ads' } });
    const failed = await create(key, { input: '/fail 400 nope' });
    expect(failed.status).toBe('failed');

    const ids = async (query: string): Promise<string[]> =>
      (await getJson<Page>(`/v1/console/responses?${query}`, key)).body.data.map((row) => row.id);

    expect(await ids('status=failed')).toEqual([failed.id]);
    expect(await ids('status=failed,completed')).toEqual([failed.id, other.id, tagged.id]);
    expect(await ids('model=other')).toEqual([other.id]);
    expect(await ids('metadata=team%3Dsearch')).toEqual([tagged.id]);
    expect(await ids('metadata=team%3Dsearch&metadata=stage%3Dprod')).toEqual([tagged.id]);
    expect(await ids('metadata=team%3Dsearch&metadata=stage%3Ddev')).toEqual([]);
    const future = Math.floor(Date.now() / 1000) + 3600;
    expect(await ids(`created_after=${future}`)).toEqual([]);
    expect(await ids(`created_after=${future - 7200}`)).toHaveLength(3);
  });

  it.each([
    ['status=done', 'status'],
    ['limit=0', 'limit'],
    ['limit=many', 'limit'],
    ['created_after=-4', 'created_after'],
    ['metadata=novalue', 'metadata'],
    ['after=bm90LWEtY3Vyc29y', 'after'],
    ['sort=asc', 'sort'],
  ])('refuses %s with a 400 naming %s', async (query, param) => {
    const key = await ratchet.newKey();
    const answer = await ratchet.request(`/v1/console/responses?${query}`, { key });
    expect(answer.status).toBe(400);
    const body = (await answer.json()) as { error: { type: string; param: string } };
    expect(body.error).toMatchObject({ type: 'invalid_request_error', param });
  });

  it('needs a key', async () => {
    const answer = await ratchet.request('/v1/console/responses', { key: null });
    expect(answer.status).toBe(401);
  });
});

describe('GET /v1/console/responses/{id}', () => {
  it('gives the whole tree: parallel tool steps, the sub-agent scope, timestamps and usage', async () => {
    const key = await ratchet.newKey();
    const input = [
      '/call slow {"ms": 50}',
      '/call slow {"ms": 80}',
      `/call researcher ${JSON.stringify({ input: '/call slow {"ms": 30}' })}`,
    ].join('\n');
    const response = await create(key, {
      input,
      tools: [
        { type: 'function', name: 'slow' },
        { type: 'function', name: 'researcher' },
      ],
    });
    expect(response.status).toBe('completed');

    const { status, body } = await getJson<{
      summary: Summary;
      response: { id: string; usage: { total_tokens: number } };
      scopes: { id: string; parent_step_id: string | null; depth: number }[];
      steps: {
        id: string;
        scope_id: string;
        round: number;
        index: number;
        kind: string;
        status: string;
        arguments: string | null;
        result: unknown;
        executed_by: string | null;
        attempt: number;
        created_at: string;
        dispatched_at: string | null;
        started_at: string | null;
        completed_at: string | null;
        usage: { total_tokens: number } | null;
      }[];
      waiting_for: string[];
      waiting_summary: string[];
    }>(`/v1/console/responses/${response.id}`, key);
    expect(status).toBe(200);
    expect(body.summary.id).toBe(response.id);
    expect(body.waiting_summary).toEqual([]);
    const top = body.scopes.find((scope) => scope.parent_step_id === null)!;
    const topSteps = body.steps.filter((step) => step.scope_id === top.id);
    const round1 = topSteps.filter((step) => step.round === 1);
    expect(round1.map((step) => step.kind).sort()).toEqual([
      'agent_call',
      'tool_call',
      'tool_call',
    ]);
    const agent = round1.find((step) => step.kind === 'agent_call')!;
    const child = body.scopes.find((scope) => scope.parent_step_id === agent.id);
    expect(child?.depth).toBe(1);
    expect(
      body.steps.some((step) => step.scope_id === child?.id && step.kind === 'tool_call'),
    ).toBe(true);
    for (const step of body.steps) {
      expect(step.status).toBe('completed');
      expect(step.attempt).toBeGreaterThanOrEqual(1);
      expect(step.executed_by).toMatch(/\S/);
      expect(Date.parse(step.started_at!)).toBeGreaterThanOrEqual(Date.parse(step.created_at) - 1);
      expect(Date.parse(step.completed_at!)).toBeGreaterThanOrEqual(Date.parse(step.started_at!));
    }
    const slow = round1.find((step) => step.kind === 'tool_call')!;
    expect(JSON.parse(slow.arguments!)).toHaveProperty('ms');
    expect(slow.result).toMatch(/slept/);
    const modelUsage = body.steps.reduce((sum, step) => sum + (step.usage?.total_tokens ?? 0), 0);
    expect(body.response.usage.total_tokens).toBe(modelUsage);
  });

  it('says what a running response waits for, and is 404 to another tenant', async () => {
    const owner = await ratchet.newKey();
    const stranger = await ratchet.newKey();
    const running = await create(owner, {
      background: true,
      input: '/call slow {"ms": 4000}\n/call slow {"ms": 4000}',
      tools: [{ type: 'function', name: 'slow' }],
    });
    let summary: string[] = [];
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const { body } = await getJson<{ waiting_summary: string[] }>(
        `/v1/console/responses/${running.id}`,
        owner,
      );
      summary = body.waiting_summary;
      if (summary.some((line) => line.startsWith('2 tool calls running on worker'))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(summary).toEqual([expect.stringMatching(/^2 tool calls running on worker \S+$/)]);

    const foreign = await ratchet.request(`/v1/console/responses/${running.id}`, { key: stranger });
    expect(foreign.status).toBe(404);
    const admin = await ratchet.request(`/v1/console/responses/${running.id}`);
    expect(admin.status).toBe(200);
    await ratchet.request(`/v1/responses/${running.id}/cancel`, { key: owner, method: 'POST' });
  });
});

describe('GET /v1/console/keys', () => {
  it('lists the keys to the admin; tenants are refused', async () => {
    const key = await ratchet.newKey();
    const refused = await ratchet.request('/v1/console/keys', { key });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'admin_key_required',
    );
    // The operations view reads GET /v1/admin/overview: the console has no overview of its own.
    expect((await ratchet.request('/v1/console/overview')).status).toBe(404);
    const keys = await getJson<{ data: { id: string; name: string }[] }>(
      '/v1/console/keys',
      ratchet.adminKey,
    );
    expect(keys.body.data.map((row) => row.id)).toContain(await keyId(key));
    // Names and the short prefix that tells keys apart; never a secret or its hash.
    const listed = JSON.stringify(keys.body);
    expect(listed).not.toContain(key);
    expect(listed).not.toMatch(/hash/);
  });
});

describe('GET /v1/console/changes', () => {
  /** Opens the feed and collects the ids it names until `stop` is called. */
  async function watch(key: string): Promise<{ ids: Set<string>; stop: () => void }> {
    const controller = new AbortController();
    const answer = await ratchet.request('/v1/console/changes', { key, signal: controller.signal });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/text\/event-stream/);
    const ids = new Set<string>();
    const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
    let ready = (): void => undefined;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          if (buffer.includes('event: ready')) ready();
          for (const match of buffer.matchAll(/"id":"(resp_[0-9a-f]+)"/g)) ids.add(match[1]);
        }
      } catch {
        // Aborted by stop().
      }
    })();
    await isReady;
    return { ids, stop: () => controller.abort() };
  }

  it("tells each watcher of its own tenant's responses only, and the admin of all", async () => {
    const a = await ratchet.newKey();
    const b = await ratchet.newKey();
    const [watchA, watchB, watchAdmin] = await Promise.all([
      watch(a),
      watch(b),
      watch(ratchet.adminKey),
    ]);
    try {
      const mine = await create(a, { input: 'hello' });
      const theirs = await create(b, { input: 'hello' });
      const deadline = Date.now() + 10_000;
      while (
        Date.now() < deadline &&
        !(
          watchAdmin.ids.has(mine.id) &&
          watchAdmin.ids.has(theirs.id) &&
          watchA.ids.has(mine.id) &&
          watchB.ids.has(theirs.id)
        )
      ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(watchA.ids).toEqual(new Set([mine.id]));
      expect(watchB.ids).toEqual(new Set([theirs.id]));
      expect(watchAdmin.ids).toEqual(new Set([mine.id, theirs.id]));
    } finally {
      watchA.stop();
      watchB.stop();
      watchAdmin.stop();
    }
  });

  it('listens on the changes channel only while a console watches', async () => {
    const redis = new Redis(REDIS_URL);
    const channel = `${ratchet.env.RATCHET_REDIS_PREFIX}:response:changes`;
    const listeners = async (): Promise<number> => {
      const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
      return Number(count);
    };
    const settle = async (expected: number): Promise<number> => {
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && (await listeners()) !== expected) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return listeners();
    };
    try {
      expect(await settle(0)).toBe(0);
      const first = await watch(await ratchet.newKey());
      const second = await watch(ratchet.adminKey);
      // One subscription per process, however many consoles watch.
      expect(await listeners()).toBe(1);
      first.stop();
      second.stop();
      expect(await settle(0)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});

describe('GET /console', () => {
  it('serves the built page and its assets without a key, with a strict content policy', async () => {
    const page = await ratchet.request('/console', { key: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const html = await page.text();
    const assets = [...html.matchAll(/\/console\/assets\/([\w.-]+)/g)].map((match) => match[1]);
    expect(assets.some((name) => name.endsWith('.js'))).toBe(true);
    for (const name of assets) {
      const asset = await ratchet.request(`/console/assets/${name}`, { key: null });
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    }
    const missing = await ratchet.request('/console/assets/nothing.js', { key: null });
    expect(missing.status).toBe(404);
    const traversal = await ratchet.request('/console/assets/..%2Findex.html', { key: null });
    expect(traversal.status).toBe(404);
  });
});
