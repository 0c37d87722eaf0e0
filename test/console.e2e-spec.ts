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
