import type { Browser, Page } from 'playwright-core';
import { launchChromium, openConsole, screenshot } from './support/browser';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { startRatchet, type TestRatchet } from './support/ratchet';

// The web console in a real browser against a real ratchet (mock model, loopback tools):
// lists that follow changes live, a running response's tree filling in, cancelling, and
// what each key may see. Screenshots of each view go to docs/screenshots/.

jest.setTimeout(120_000);

let ratchet: TestRatchet;
let tools: FakeTools;
let browser: Browser;
const pages: Page[] = [];

const TOOLS = [
  { type: 'function', name: 'search' },
  { type: 'function', name: 'fetch_page' },
  { type: 'function', name: 'researcher' },
];

beforeAll(async () => {
  browser = await launchChromium();
  tools = await startFakeTools();
  ratchet = await startRatchet('console_ui', {
    workers: 2,
    configYaml: `
models:
  mock: { provider: mock }
  gpt-4o-mini: { provider: mock }
tools:
  search: { type: http, url: ${tools.url}/sleep, description: Searches the web, parameters: { type: object, properties: { ms: { type: integer } } } }
  fetch_page: { type: http, url: ${tools.url}/sleep, description: Fetches a page, parameters: { type: object, properties: { ms: { type: integer } } } }
  researcher: { type: agent, model: mock, description: A research sub-agent, tools: [search] }
`,
  });
});

afterAll(async () => {
  await Promise.all(pages.map((page) => page.context().close()));
  await browser?.close();
  await ratchet?.close();
  await tools?.close();
});

async function open(key: string, hash = '#/'): Promise<Page> {
  const page = await openConsole(browser, ratchet.url, key, hash);
  pages.push(page);
  return page;
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

const row = (page: Page, id: string) => page.locator(`tr[data-id="${id}"]`);

/**
 * Creates a streamed background response and hangs up once it has its id: the response
 * runs on, and its events stay in its log for the console to read.
 */
async function createStreamed(key: string, body: Record<string, unknown>): Promise<string> {
  const controller = new AbortController();
  const answer = await ratchet.request('/v1/responses', {
    key,
    method: 'POST',
    body: JSON.stringify({ model: 'mock', background: true, stream: true, ...body }),
    signal: controller.signal,
  });
  expect(answer.status).toBe(200);
  const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before naming its response: ${text}`);
    text += value;
    const match = /"id":"(resp_[0-9a-f]+)"/.exec(text);
    if (match) {
      controller.abort();
      return match[1];
    }
  }
}

/** The sequence numbers the console's event list shows, in order. */
async function shownSequences(page: Page): Promise<number[]> {
  return (await page.locator('[data-testid=events] li .seq').allTextContents()).map(Number);
}

function expectConsecutive(sequences: number[]): void {
  expect(sequences.length).toBeGreaterThan(0);
  sequences.forEach((sequence, i) => expect(sequence).toBe(sequences[0] + i));
}

describe('the response list', () => {
  it('shows a tenant only its own responses, and follows new ones live', async () => {
    const a = await ratchet.newKey('team-search');
    const b = await ratchet.newKey('team-ads');
    const mine = await create(a, { input: 'Hello from A', metadata: { team: 'search' } });
    const theirs = await create(b, { input: 'Hello from B' });

    const page = await open(a);
    await row(page, mine.id).waitFor();
    await page.getByTestId('live-state').getByText('Live').waitFor();
    expect(await row(page, theirs.id).count()).toBe(0);
    await expect(
      row(page, mine.id).locator('[data-status]').getAttribute('data-status'),
    ).resolves.toBe('completed');

    // Created after the page loaded: it appears, and moves to completed, with no reload.
    const later = await create(a, {
      background: true,
      input: '/sleep 1500\nTake your time.',
      metadata: { team: 'search' },
    });
    await row(page, later.id).waitFor({ timeout: 10_000 });
    await row(page, later.id).locator('[data-status="completed"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('tbody tr').count()).toBe(2);

    // The other tenant's response is not there even by its address.
    await page.goto(`${ratchet.url}/console#/responses/${theirs.id}`);
    await page.getByTestId('detail-error').waitFor();
    expect(await page.getByTestId('detail-error').textContent()).toContain('not found');
  });

  it("shows the admin every tenant's responses, filtered by key and status", async () => {
    const a = await ratchet.newKey('team-search');
    const b = await ratchet.newKey('team-ads');
    const fromA = await create(a, { input: 'A', metadata: { ticket: 'RAT-101' } });
    const fromB = await create(b, { input: 'B', metadata: { ticket: 'RAT-102' } });
    const failed = await create(b, { input: '/fail 400 The upstream refused this request.' });

    const page = await open(ratchet.adminKey);
    await row(page, fromA.id).waitFor();
    await row(page, fromB.id).waitFor();
    await row(page, failed.id).waitFor();

    await page.getByRole('button', { name: 'failed' }).click();
    await page.locator('tbody [data-status="completed"]').first().waitFor({ state: 'detached' });
    await row(page, failed.id).waitFor();
    await page.getByRole('button', { name: 'failed' }).click();

    // A list with every kind of row, for the picture: running, cancelled, and a tool run.
    const running = await create(a, {
      background: true,
      model: 'gpt-4o-mini',
      input: '/sleep 20000\nSummarise the quarter.',
      metadata: { ticket: 'RAT-103', stage: 'prod' },
    });
    const cancelled = await create(b, { background: true, input: '/sleep 20000\nNever mind.' });
    await ratchet.request(`/v1/responses/${cancelled.id}/cancel`, { key: b, method: 'POST' });
    await create(a, {
      input: '/call search {"ms": 120}\n/call fetch_page {"ms": 200}',
      tools: TOOLS,
      metadata: { ticket: 'RAT-104' },
    });
    await row(page, running.id).locator('[data-status="in_progress"]').waitFor({ timeout: 10_000 });
    await row(page, cancelled.id).locator('[data-status="cancelled"]').waitFor({ timeout: 10_000 });
    await screenshot(page, 'console-list.png');
    await ratchet.request(`/v1/responses/${running.id}/cancel`, { key: a, method: 'POST' });

    const keyB = (await (await ratchet.request('/v1/console/session', { key: b })).json()) as {
      api_key: string;
    };
    await page.selectOption('select[name=api_key]', keyB.api_key);
    await row(page, fromA.id).waitFor({ state: 'detached' });
    await row(page, fromB.id).waitFor();
  });
});

describe('one response', () => {
  it('fills in live: parallel tools, a nested sub-agent, events resumed after a reload', async () => {
    const key = await ratchet.newKey('team-research');
    const id = await createStreamed(key, {
      input: [
        '/call search {"ms": 4000}',
        '/call fetch_page {"ms": 7000}',
        `/call researcher ${JSON.stringify({ input: '/call search {"ms": 5000}' })}`,
      ].join('\n'),
      tools: TOOLS,
      metadata: { ticket: 'RAT-200' },
    });

    const page = await open(key, `#/responses/${id}`);
    const steps = page.locator('[data-testid=waterfall] [data-step]');
    // The round of three siblings runs: two tools on workers, the sub-agent's own tool nested.
    await page
      .locator('[data-kind=tool_call][data-status=running]')
      .nth(1)
      .waitFor({ timeout: 15_000 });
    await page.locator('[data-kind=agent_call][data-status=running]').waitFor();
    await page
      .getByTestId('waiting')
      .getByText(/tool calls? running on worker/)
      .first()
      .waitFor();
    const nested = page.locator('[data-testid=waterfall] .wf-step[style*="--depth: 1"]');
    await nested.first().waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=events] li').first().waitFor();
    await screenshot(page, 'console-response-live.png', true);

    // A reload while it runs keeps the events seen and asks only for those after the last one.
    expect(await page.locator('.detail-head [data-status=in_progress]').count()).toBe(1);
    const before = await shownSequences(page);
    const resumed = page.waitForRequest((request) => request.url().includes('stream=true'));
    await page.reload();
    await page.locator('[data-testid=events] li').first().waitFor();
    // (More may have arrived between reading the list and the reload: the cursor is the last kept.)
    const cursor = Number(/starting_after=(\d+)$/.exec((await resumed).url())?.[1]);
    expect(cursor).toBeGreaterThanOrEqual(before.at(-1)!);
    const after = await shownSequences(page);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after).toContain(cursor);

    // It ends: every step completed, the output shown, every event once and in order.
    await page.locator('.detail-head [data-status=completed]').waitFor({ timeout: 30_000 });
    await page.getByTestId('output-text').getByText('researcher:').waitFor();
    expect(await page.locator('[data-testid=waiting]').count()).toBe(0);
    await page
      .locator('[data-testid=events] .etype')
      .getByText('completed', { exact: true })
      .waitFor();
    expectConsecutive(await shownSequences(page));
    expect(await steps.count()).toBe(8);
    expect(await page.locator('[data-step]:not([data-status=completed])').count()).toBe(0);
    const usage = await page.getByTestId('tree-usage').textContent();
    expect(usage).toMatch(/^\d+ tokens \(\d+ in · \d+ out\) over 8 steps$/);

    // The sub-agent folds away and back.
    const toggle = page.locator('[data-kind=agent_call] button.toggle');
    await toggle.click();
    await nested.first().waitFor({ state: 'detached' });
    expect(await steps.count()).toBe(5);
    await toggle.click();
    await nested.first().waitFor();

    // A step's request and result.
    await page.locator('[data-kind=tool_call]').filter({ hasText: 'fetch_page' }).click();
    const inspector = page.getByTestId('inspector');
    await inspector.getByText('"ms": 7000').waitFor();
    await inspector.getByText('slept').first().waitFor();
    await screenshot(page, 'console-response.png', true);
  });

  it('cancels a running response from its page', async () => {
    const key = await ratchet.newKey();
    const running = await create(key, {
      background: true,
      input: '/call fetch_page {"ms": 30000}',
      tools: TOOLS,
    });
    const page = await open(key, `#/responses/${running.id}`);
    await page
      .getByTestId('waiting')
      .getByText(/^1 tool call running on worker/)
      .waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Cancel response' }).click();
    await page.locator('.detail-head [data-status=cancelled]').waitFor({ timeout: 10_000 });
    expect(await page.getByRole('button', { name: 'Cancel response' }).count()).toBe(0);
    const stored = (await (
      await ratchet.request(`/v1/responses/${running.id}`, { key })
    ).json()) as {
      status: string;
    };
    expect(stored.status).toBe('cancelled');
    // The tool call in flight was aborted, not left to run out.
    const deadline = Date.now() + 5000;
    const call = () => tools.calls.find((c) => (c.body as { ms?: number }).ms === 30000);
    while (Date.now() < deadline && !call()?.abortedAt) await new Promise((r) => setTimeout(r, 50));
    expect(call()?.abortedAt).not.toBeNull();
  });
});

describe('operations', () => {
  it('shows the admin live workers with their in-flight steps, queues and upstream errors', async () => {
    const key = await ratchet.newKey('team-ops');
    await create(key, { input: '/fail 503 The upstream is overloaded.' });
    const busy = await create(key, {
      background: true,
      input: '/call search {"ms": 8000}\n/call search {"ms": 8000}\n/call fetch_page {"ms": 8000}',
      tools: TOOLS,
    });
    const page = await open(ratchet.adminKey, '#/operations');
    await page.getByTestId('operations').waitFor();
    expect(await page.locator('[data-testid=workers] [data-worker]').count()).toBe(2);
    expect(await page.locator('[data-testid=workers] .pill-completed').count()).toBe(2);
    // The three tool calls show up on the workers running them (the view follows changes).
    const inFlight = async (): Promise<number> =>
      (await page.locator('[data-testid=workers] [data-worker] .inflight b').allTextContents())
        .map(Number)
        .reduce((sum, n) => sum + n, 0);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await inFlight()) !== 3) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await inFlight()).toBe(3);
    await page.locator('[data-testid=upstream] .tag-error').first().waitFor();
    // The failures this file's responses met, as the overview counts them.
    const overview = (await (
      await ratchet.request('/v1/admin/overview?window_seconds=3600')
    ).json()) as {
      upstream: { model: string; failed: number; errors_by_code: Record<string, number> }[];
    };
    const mock = overview.upstream.find((upstream) => upstream.model === 'mock')!;
    expect(mock.errors_by_code.upstream_error).toBeGreaterThanOrEqual(1);
    expect(await page.locator('[data-testid=upstream]').textContent()).toContain(
      `upstream_error × ${mock.errors_by_code.upstream_error}`,
    );
    // (The picture of this view, with its operator controls, is console-operations.e2e-spec.ts's.)
    await ratchet.request(`/v1/responses/${busy.id}/cancel`, { key, method: 'POST' });

    // A tenant has no operations view (its controls: console-operations.e2e-spec.ts).
    const tenant = await open(key);
    expect(await tenant.getByRole('link', { name: 'Operations' }).count()).toBe(0);
  });
});
