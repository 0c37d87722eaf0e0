import { ApiKeysRepository } from '@ratchet/store';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openConsole, screenshot } from './support/browser';
import { startFakeOpenAI, type FakeOpenAI } from './support/fake-openai';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { WorkerProcesses } from './support/processes';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { queryRows } from './support/database';
import { waitFor } from './support/wait';

// The operator controls of the console's Operations view, in a real browser against a real
// ratchet whose workers are separate processes: a response stuck on a killed worker, requeued
// and another cancelled by filter after a dry run, a worker drained while it runs steps, the
// audit trail of it all; and a tenant key that sees none of it.

jest.setTimeout(180_000);

let ratchet: TestRatchet;
let tools: FakeTools;
let upstream: FakeOpenAI;
let browser: Browser;
const pages: Page[] = [];
const workers = new WorkerProcesses(() => ({
  ...ratchet.env,
  WORKER_CONCURRENCY: '4',
  RATCHET_SWEEP_INTERVAL_MS: '1000',
}));

beforeAll(async () => {
  browser = await launchChromium();
  tools = await startFakeTools();
  // An upstream that is always over its rate limit, and says to come back in two minutes.
  upstream = await startFakeOpenAI({
    kind: 'json',
    status: 429,
    headers: { 'retry-after': '120' },
    body: { error: { message: 'Rate limit reached', type: 'rate_limit_error' } },
  });
  ratchet = await startRatchet('console_ops', {
    workers: 0,
    configYaml: `
models:
  mock: { provider: mock }
  gpt-4o-mini: { provider: openai-chat, baseUrl: ${upstream.url} }
tools:
  search: { type: http, url: ${tools.url}/sleep, timeoutMs: 60000 }
`,
  });
});

afterAll(async () => {
  await Promise.all(pages.map((page) => page.context().close()));
  await browser?.close();
  await workers.killAll();
  await ratchet?.close();
  await tools?.close();
  await upstream?.close();
});

async function tenant(name: string): Promise<{ key: string; id: string }> {
  const key = await ratchet.newKey(name);
  const principal = await ratchet.api.get(ApiKeysRepository).authenticate(key);
  return { key, id: principal!.keyId };
}

async function create(key: string, input: string, model = 'mock'): Promise<string> {
  const answer = await ratchet.request('/v1/responses', {
    method: 'POST',
    key,
    body: JSON.stringify({
      model,
      input,
      background: true,
      tools: input.includes('/call') ? [{ type: 'function', name: 'search' }] : [],
    }),
  });
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { id: string }).id;
}

async function statusOf(id: string): Promise<string> {
  const answer = await ratchet.request(`/v1/responses/${id}`);
  return ((await answer.json()) as { status: string }).status;
}

async function ended(id: string): Promise<string> {
  return waitFor(`${id} to end`, async () => {
    const status = await statusOf(id);
    return status === 'queued' || status === 'in_progress' ? null : status;
  });
}

async function stuckReasons(id: string): Promise<string[]> {
  const answer = await ratchet.request('/v1/admin/stuck?idle_seconds=3600');
  const body = (await answer.json()) as {
    data: { id: string; reasons: { reason: string }[] }[];
  };
  return body.data.find((row) => row.id === id)?.reasons.map((reason) => reason.reason) ?? [];
}

async function open(key: string, hash: string): Promise<Page> {
  const page = await openConsole(browser, ratchet.url, key, hash);
  pages.push(page);
  return page;
}

const callsWith = (marker: number) =>
  tools.calls.filter((call) => (call.body as { marker?: number })?.marker === marker);

describe('operator controls', () => {
  it('lets the admin find stuck responses, requeue and cancel them, drain a worker, and read the audit', async () => {
    const team = await tenant('team-search');
    const other = await tenant('team-ads');
    const first = await workers.start();

    // Upstream figures: a failure and a success on the mock model.
    expect(await ended(await create(team.key, '/fail 503 The upstream is overloaded.'))).toBe(
      'failed',
    );
    expect(await ended(await create(team.key, 'Hello.'))).toBe('completed');

    // Two responses stuck on a worker that is killed while nobody else runs: one in a tool
    // call, one waiting out its upstream's rate limit.
    const marker = Date.now();
    const sleeping = await create(team.key, `/call search {"ms":1500,"marker":${marker}}`);
    const limited = await create(other.key, 'Summarise the quarter.', 'gpt-4o-mini');
    await waitFor('the tool call to start', async () => callsWith(marker).length === 1);
    await waitFor('the rate-limited call to back off', async () =>
      (await stuckReasons(limited)).includes('backing_off'),
    );
    await first.stop('SIGKILL');

    const page = await open(ratchet.adminKey, '#/operations');
    await page.getByTestId('operations').waitFor();
    const stuckRow = (id: string) => page.locator(`[data-testid=stuck] [data-stuck="${id}"]`);
    await stuckRow(sleeping).waitFor({ timeout: 10_000 });
    await stuckRow(limited).waitFor();
    expect(await stuckRow(sleeping).locator('[data-reason]').getAttribute('data-reason')).toBe(
      'worker_gone',
    );
    expect(await stuckRow(sleeping).textContent()).toContain('worker gone');
    expect(await stuckRow(sleeping).locator('a').getAttribute('href')).toBe(
      `#/responses/${sleeping}`,
    );

    // Requeue the first tenant's stuck responses: the dry run shows one, by id, and changes nothing.
    const actions = page.getByTestId('filter-actions');
    await actions.locator('select[name=owner]').selectOption(team.id);
    await actions.getByRole('button', { name: 'Preview requeue' }).click();
    await actions.getByTestId('preview').waitFor();
    expect(await actions.getByTestId('preview-count').textContent()).toBe('1');
    expect(await actions.getByTestId('samples').locator('a').first().getAttribute('href')).toBe(
      `#/responses/${sleeping}`,
    );
    expect(await stuckReasons(sleeping)).toEqual(['worker_gone']);
    await actions.getByRole('button', { name: 'Confirm requeue (1)' }).click();
    expect(await actions.getByTestId('action-done').textContent()).toBe(
      'Requeued 1 response: 1 step(s) and 0 scope(s) queued again.',
    );
    // The dead worker's claim is given up: the step waits in the queue for a worker.
    await stuckRow(sleeping).locator('[data-reason=worker_gone]').waitFor({ state: 'detached' });
    expect(await stuckReasons(sleeping)).not.toContain('worker_gone');
    // The sweeper panel shows the operator's run and what it queued again.
    await page.locator('[data-testid=recovery-runs] [data-run=admin]').waitFor();

    // Cancel the rate-limited one by its model.
    await actions.locator('select[name=owner]').selectOption('');
    await actions.locator('input[name=model]').fill('gpt-4o-mini');
    await actions.getByRole('button', { name: 'Preview cancel' }).click();
    expect(await actions.getByTestId('preview-count').textContent()).toBe('1');
    expect(await statusOf(limited)).toBe('in_progress');
    await actions.getByRole('button', { name: 'Confirm cancel (1)' }).click();
    await actions.getByTestId('action-done').getByText('Cancelled 1 response.').waitFor();
    expect(await statusOf(limited)).toBe('cancelled');
    await stuckRow(limited).waitFor({ state: 'detached' });

    // New workers run the requeued step again, once more.
    await workers.start();
    await workers.start();
    expect(await ended(sleeping)).toBe('completed');
    expect(callsWith(marker)).toHaveLength(2);
    await page.getByTestId('stuck').getByText('Every live response is progressing.').waitFor();
    const rows = page.locator('[data-testid=workers] [data-worker]');
    await waitFor('two workers in the view', async () => (await rows.count()) === 2);

    // A worker drains while it runs steps: draining, then drained once they finished. The
    // steps last long enough for the page to show the draining state on a loaded machine,
    // where the in-flight count and the drain's notices reach it seconds late, and should a
    // notice not reach it, its own reload while anything is live (every 10 s) does.
    const busyMarker = Date.now();
    const busy = await create(
      team.key,
      [1, 2, 3].map((n) => `/call search {"ms":20000,"marker":${busyMarker + n}}`).join('\n'),
    );
    // The worker that runs most of its tool calls, once all three run (the page's in-flight
    // count may still show the model call before them, which may have run elsewhere).
    const drainedId = await waitFor('the three tool calls running', async () => {
      const running = await queryRows<{ owner: string; n: number }>(
        ratchet.database.url,
        `SELECT executed_by AS owner, count(*)::int AS n FROM steps
          WHERE response_id = $1 AND kind = 'tool_call' AND status = 'running'
          GROUP BY executed_by ORDER BY n DESC`,
        [busy],
      );
      return running.reduce((sum, row) => sum + row.n, 0) === 3 ? running[0].owner : null;
    });
    const busiest = page.locator(`[data-testid=workers] [data-worker="${drainedId}"]`);
    await waitFor('its in-flight steps in the view', async () => {
      return Number(await busiest.locator('.inflight b').textContent()) > 0;
    });
    await busiest.getByRole('button', { name: 'Drain' }).click();
    await busiest.getByRole('button', { name: 'Confirm drain' }).click();
    await page
      .locator(`[data-worker="${drainedId}"][data-drain=draining]`)
      .waitFor({ timeout: 15_000 })
      .catch(async (error: Error) => {
        // What the page shows instead tells a late notice from a worker that never drained.
        const row = page.locator(`[data-worker="${drainedId}"]`);
        const shown = (await row.count()) > 0 ? await row.getAttribute('data-drain') : 'no row';
        throw new Error(`${error.message}\nthe worker's row shows drain state: ${shown}`);
      });
    expect(await busiest.getByRole('button', { name: 'Drain' }).count()).toBe(0);
    // Created now, it runs on the other worker, and waits out its upstream's rate limit there.
    const stillLimited = await create(other.key, 'Try again later.', 'gpt-4o-mini');
    await stuckRow(stillLimited).waitFor({ timeout: 15_000 });
    await page.locator('[data-testid=upstream] .tag-error').first().waitFor();
    await page.locator('[data-testid=audit] [data-audit=drain]').waitFor();
    await screenshot(page, 'console-operations.png', true);

    // Drained once its steps finished: told live, with no reload.
    await page
      .locator(`[data-worker="${drainedId}"][data-drain=drained]`)
      .waitFor({ timeout: 30_000 });
    expect(await ended(busy)).toBe('completed');

    // Every action is in the audit panel: who, what, the dry runs too.
    const audit = page.getByTestId('audit');
    const entries: string[] = [];
    for (const tr of await audit.locator('tbody tr').all()) {
      entries.push(
        `${await tr.getAttribute('data-audit')}:${await tr.getAttribute('data-dry-run')}`,
      );
    }
    expect(entries.slice(0, 5)).toEqual([
      'drain:false',
      'cancel:false',
      'cancel:true',
      'requeue:false',
      'requeue:true',
    ]);
    expect(await audit.locator('tbody tr').first().textContent()).toContain('RATCHET_ADMIN_KEY');
    expect(await audit.locator('[data-audit=requeue][data-dry-run=false]').textContent()).toContain(
      'requeued 1 response',
    );

    // Purge: a dry run first; nothing ended more than a day ago.
    const purge = page.getByTestId('purge');
    await purge.locator('input[name=older_than]').fill('1d');
    await purge.getByRole('button', { name: 'Preview purge' }).click();
    expect(await purge.getByTestId('purge-count').textContent()).toBe('0');
    expect(await purge.getByRole('button', { name: 'Confirm purge (0)' }).isDisabled()).toBe(true);
    await audit.locator('[data-audit=purge][data-dry-run=true]').waitFor();

    await ratchet.request('/v1/admin/responses/cancel', {
      method: 'POST',
      body: JSON.stringify({ ids: [stillLimited] }),
    });
  });

  it('reads nothing more while the deployment is idle', async () => {
    await waitFor('no live response', async () => {
      const answer = await ratchet.request('/v1/admin/overview');
      const { responses } = (await answer.json()) as {
        responses: { by_status: Record<string, number> };
      };
      return responses.by_status.queued + responses.by_status.in_progress === 0;
    });
    const page = await open(ratchet.adminKey, '#/operations');
    const reads: string[] = [];
    page.on('request', (request) => {
      const { pathname } = new URL(request.url());
      if (pathname.startsWith('/v1/')) reads.push(pathname);
    });
    await page.getByTestId('operations').waitFor();
    await page.getByTestId('stuck').getByText('Every live response is progressing.').waitFor();
    // Longer than the refresh of a busy view: an idle one makes no request at all.
    const before = reads.length;
    await new Promise((resolve) => setTimeout(resolve, 12_000));
    expect(reads.slice(before)).toEqual([]);
    // A change is told, and read once.
    const { key } = await tenant('team-late');
    expect(await ended(await create(key, 'Hello again.'))).toBe('completed');
    await waitFor('the view to read again', async () =>
      reads.slice(before).includes('/v1/admin/overview'),
    );
  });

  it('offers a tenant key no operator controls', async () => {
    const { key } = await tenant('team-ops');
    const page = await open(key, '#/operations');
    await page.getByTestId('live-state').getByText('Live').waitFor();
    expect(await page.getByRole('link', { name: 'Operations' }).count()).toBe(0);
    expect(await page.getByTestId('operations').count()).toBe(0);
    expect(await page.getByRole('button', { name: /Drain|Preview/ }).count()).toBe(0);
    // And the API has no such routes for it.
    const refused = await ratchet.request('/v1/admin/overview', { key });
    expect(refused.status).toBe(404);
  });
});
