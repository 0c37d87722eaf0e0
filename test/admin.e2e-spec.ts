import { ApiKeysRepository, leaseOwnerOf } from '@ratchet/store';
import { queryRows } from './support/database';
import { startFakeTools, type FakeTools, type ToolCall } from './support/fake-tools';
import { WorkerProcesses } from './support/processes';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitFor } from './support/wait';

// Operator controls against real worker processes: the API here runs no worker of its own.
// Stuck responses found and requeued after their only worker was killed, cancels and purges
// by filter (dry runs first), a worker process drained while it runs a step, the audit trail
// of all of it, and the 400s of bad bodies.

let tools: FakeTools;
let ratchet: TestRatchet;
const workers = new WorkerProcesses(() => ({
  ...ratchet.env,
  WORKER_CONCURRENCY: '4',
  RATCHET_SWEEP_INTERVAL_MS: '1000',
}));

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('admin', {
    workers: 0,
    configYaml: `
models:
  mock: { provider: mock }
tools:
  sleep: { type: http, url: ${tools.url}/sleep, timeoutMs: 60000 }
  hang: { type: http, url: ${tools.url}/hang, timeoutMs: 60000 }
`,
  });
});

afterAll(async () => {
  await workers.killAll();
  await ratchet?.close();
  await tools?.close();
});

function query<T extends object>(sql: string, values: unknown[] = []): Promise<T[]> {
  return queryRows<T>(ratchet.database.url, sql, values);
}

async function admin<T = Record<string, unknown>>(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  expected = 200,
): Promise<T> {
  const answer = await ratchet.request(path, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await answer.json()) as T;
  expect({ path, status: answer.status, body: answer.status === expected ? null : json }).toEqual({
    path,
    status: expected,
    body: null,
  });
  return json;
}

/** A tenant: its key and the key's id. */
async function tenant(): Promise<{ key: string; id: string }> {
  const key = await ratchet.newKey('tenant');
  const principal = await ratchet.api.get(ApiKeysRepository).authenticate(key);
  return { key, id: principal!.keyId };
}

async function create(key: string, input: string, tools: string[] = []): Promise<string> {
  const answer = await ratchet.request('/v1/responses', {
    method: 'POST',
    key,
    body: JSON.stringify({
      model: 'mock',
      input,
      background: true,
      tools: tools.map((name) => ({ type: 'function', name })),
    }),
  });
  expect(answer.status).toBe(200);
  return ((await answer.json()) as { id: string }).id;
}

async function statusOf(id: string): Promise<string> {
  const answer = await ratchet.request(`/v1/responses/${id}`);
  return ((await answer.json()) as { status: string }).status;
}

async function ended(id: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(
    `${id} to end`,
    async () => {
      const status = await statusOf(id);
      return status === 'queued' || status === 'in_progress' ? null : status;
    },
    timeoutMs,
  );
}

function callsWith(marker: number): ToolCall[] {
  return tools.calls.filter((call) => (call.body as { marker?: number })?.marker === marker);
}

interface StepRow {
  id: string;
  kind: string;
  status: string;
  attempt: number;
  lease_owner: string | null;
  executed_by: string | null;
}

async function stepsOf(responseId: string): Promise<StepRow[]> {
  return query<StepRow>(
    `SELECT id, kind::text AS kind, status::text AS status, attempt,
            ${leaseOwnerOf('steps')} AS lease_owner, executed_by
       FROM steps WHERE response_id = $1 ORDER BY round, index`,
    [responseId],
  );
}

interface Worker {
  id: string;
  pid: number;
  in_flight_steps: number;
  in_flight_by_kind: Record<string, number>;
  drain: string;
}

async function liveWorkers(): Promise<Worker[]> {
  return (await admin<{ data: Worker[] }>('GET', '/v1/admin/workers')).data;
}

interface Action {
  dry_run: boolean;
  matched: number;
  responses: { id: string; reasons: { reason: string; worker: string | null }[] }[];
  affected: number;
  affected_ids: string[];
  requeued?: { steps: number; scopes: number };
  audit_id: number;
}

interface AuditRow {
  id: number;
  actor_key_id: string;
  actor_name: string;
  action: string;
  params: Record<string, unknown>;
  dry_run: boolean;
  affected_count: number;
  affected_ids: string[];
}

async function auditRow(id: number): Promise<AuditRow> {
  const page = await admin<{ data: AuditRow[] }>('GET', `/v1/admin/audit?after=${id + 1}&limit=1`);
  expect(page.data[0].id).toBe(id);
  return page.data[0];
}

/**
 * Watches GET /v1/console/changes with `key` and collects the worker ids its `workers`
 * events name, until `stop`.
 */
async function watchWorkers(key?: string): Promise<{ ids: string[]; stop: () => void }> {
  const controller = new AbortController();
  const answer = await ratchet.request('/v1/console/changes', { key, signal: controller.signal });
  expect(answer.status).toBe(200);
  const ids: string[] = [];
  const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error('the change stream ended before it was ready');
    buffer += value;
    if (buffer.includes('event: ready')) break;
  }
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!block.startsWith('event: workers\n')) continue;
          const data = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { data: string[] };
          ids.push(...data.data);
        }
      }
    } catch {
      // Stopped.
    }
  })();
  return { ids, stop: () => controller.abort() };
}

describe('with workers killed, started and drained', () => {
  it('finds a response whose only worker was killed, and requeues it through recovery', async () => {
    const owner = await tenant();
    const first = await workers.start();
    const marker = Date.now();
    const sleeping = await create(owner.key, `/call sleep {"ms":1500,"marker":${marker}}`, [
      'sleep',
    ]);
    await waitFor('the tool call to start', async () => callsWith(marker).length === 1);
    const [deadWorker] = await liveWorkers();
    await first.stop('SIGKILL');

    // Nobody is left to take its step over: it is stuck with the dead worker's claim.
    const stuck = await admin<{ data: Action['responses'] }>(
      'GET',
      `/v1/admin/stuck?owner=${owner.id}&reason=worker_gone`,
    );
    expect(stuck.data.map((response) => response.id)).toEqual([sleeping]);
    expect(stuck.data[0].reasons).toEqual([
      expect.objectContaining({ reason: 'worker_gone', worker: deadWorker.id }),
    ]);

    // A response created while no worker runs waits in the queue, its first model call
    // recorded with it, pending (libs/store/src/first-step.ts).
    const waiting = await create(owner.key, 'Anyone there?');
    const idle = await admin<{ data: Action['responses'] }>(
      'GET',
      `/v1/admin/stuck?owner=${owner.id}&idle_seconds=0`,
    );
    expect(idle.data.map((response) => response.id)).toEqual([sleeping, waiting]);
    expect(idle.data[1].reasons.map((reason) => reason.reason)).toEqual(['queued_too_long']);
    const patient = await admin<{ data: Action['responses'] }>(
      'GET',
      `/v1/admin/stuck?owner=${owner.id}&idle_seconds=3600`,
    );
    expect(patient.data.map((response) => response.id)).toEqual([sleeping]);

    // A dry run lists them and changes nothing.
    const dry = await admin<Action>('POST', '/v1/admin/responses/requeue', {
      owner: owner.id,
      stuck: true,
      idle_seconds: 0,
      dry_run: true,
    });
    expect(dry).toMatchObject({ dry_run: true, matched: 2, affected: 2 });
    expect(dry.affected_ids).toEqual([sleeping, waiting]);
    expect((await stepsOf(sleeping)).find((step) => step.kind === 'tool_call')).toMatchObject({
      status: 'running',
      lease_owner: deadWorker.id,
      attempt: 1,
    });

    const requeued = await admin<Action>('POST', '/v1/admin/responses/requeue', {
      ids: [sleeping, waiting],
    });
    expect(requeued).toMatchObject({ dry_run: false, matched: 2, affected: 2 });
    expect(requeued.requeued).toEqual({ steps: 2, scopes: 0 });
    // The dead worker's claim is given up, as the takeover gives it up; the jobs wait.
    expect((await stepsOf(sleeping)).find((step) => step.kind === 'tool_call')).toMatchObject({
      status: 'running',
      lease_owner: null,
      attempt: 1,
    });
    const overview = await admin<{
      queues: Record<string, Record<string, number>>;
      recovery: {
        last_admin_requeue_at: string | null;
        requeued: Record<string, { steps: number; scopes: number; runs: number }>;
      };
    }>('GET', '/v1/admin/overview');
    expect(overview.queues.ratchet.waiting).toBeGreaterThanOrEqual(2);
    expect(overview.recovery.last_admin_requeue_at).not.toBeNull();
    expect(overview.recovery.requeued.admin).toEqual({ steps: 2, scopes: 0, runs: 1 });

    // A new worker runs them: the step again (attempt 2, same Idempotency-Key), once.
    const second = await workers.start();
    expect(await ended(sleeping)).toBe('completed');
    expect(await ended(waiting)).toBe('completed');
    const tool = (await stepsOf(sleeping)).filter((step) => step.kind === 'tool_call');
    expect(tool).toHaveLength(1);
    expect(tool[0].attempt).toBe(2);
    expect(tool[0].executed_by).toContain(`:${second.child.pid}:`);
    const calls = callsWith(marker);
    expect(calls).toHaveLength(2);
    expect(calls[1].idempotencyKey).toBe(calls[0].idempotencyKey);

    const [dryAudit, realAudit] = [await auditRow(dry.audit_id), await auditRow(requeued.audit_id)];
    expect(dryAudit).toMatchObject({
      actor_key_id: 'key_admin',
      actor_name: 'RATCHET_ADMIN_KEY',
      action: 'requeue',
      dry_run: true,
      affected_count: 2,
      params: { owner: owner.id, stuck: true, idle_seconds: 0, dry_run: true },
    });
    expect(realAudit).toMatchObject({
      action: 'requeue',
      dry_run: false,
      affected_count: 2,
      affected_ids: [sleeping, waiting],
    });
  });

  it('cancels by filter through the cancel path, aborting in-flight calls', async () => {
    if ((await liveWorkers()).length === 0) await workers.start();
    const [target, bystander] = [await tenant(), await tenant()];
    const marker = Date.now();
    const hang = `/call hang {"marker":${marker}}`;
    const targets = [
      await create(target.key, hang, ['hang']),
      await create(target.key, hang, ['hang']),
    ];
    const spared = await create(bystander.key, hang, ['hang']);
    await waitFor('three hanging calls', async () => callsWith(marker).length === 3);

    const dry = await admin<Action>('POST', '/v1/admin/responses/cancel', {
      owner: target.id,
      status: ['in_progress'],
      dry_run: true,
    });
    expect(dry).toMatchObject({ dry_run: true, matched: 2, affected: 2 });
    expect([...dry.affected_ids].sort()).toEqual([...targets].sort());
    expect(await statusOf(targets[0])).toBe('in_progress');

    const asked = Date.now();
    const cancelled = await admin<Action>('POST', '/v1/admin/responses/cancel', {
      owner: target.id,
    });
    expect(cancelled).toMatchObject({ dry_run: false, matched: 2, affected: 2 });
    for (const id of targets) expect(await statusOf(id)).toBe('cancelled');
    expect(await statusOf(spared)).toBe('in_progress');
    // The worker's requests to the tool are aborted within about a second.
    const aborted = await waitFor(
      'the two calls to be aborted',
      async () => {
        const calls = callsWith(marker).filter((call) => call.abortedAt !== null);
        return calls.length >= 2 ? calls : null;
      },
      5_000,
    );
    for (const call of aborted) expect(call.abortedAt! - asked).toBeLessThan(1_500);
    expect(callsWith(marker).filter((call) => call.abortedAt === null)).toHaveLength(1);
    const steps = (await Promise.all(targets.map(stepsOf))).flat();
    expect(steps.filter((step) => step.status === 'running' || step.status === 'pending')).toEqual(
      [],
    );

    expect(await auditRow(cancelled.audit_id)).toMatchObject({
      action: 'cancel',
      dry_run: false,
      affected_count: 2,
      params: { owner: target.id },
    });
    await admin('POST', '/v1/admin/responses/cancel', { ids: [spared] });
    expect(await statusOf(spared)).toBe('cancelled');
  });

  it('drains a worker process: it finishes its step, takes no new work, another worker does', async () => {
    while ((await liveWorkers()).length < 2) await workers.start();
    const owner = await tenant();
    const marker = Date.now();
    const busy = await create(owner.key, `/call sleep {"ms":3000,"marker":${marker}}`, ['sleep']);
    await waitFor('the 3 s call to start', async () => callsWith(marker).length === 1);
    const step = (await stepsOf(busy)).find((row) => row.kind === 'tool_call')!;
    const draining = step.lease_owner!;
    const watching = await watchWorkers();
    const tenantWatching = await watchWorkers(owner.key);

    const asked = await admin<Worker & { audit_id: number }>(
      'POST',
      `/v1/admin/workers/${encodeURIComponent(draining)}/drain`,
    );
    expect(asked.id).toBe(draining);
    expect(['drain_requested', 'draining']).toContain(asked.drain);
    const seen = await waitFor('the worker to start draining', async () => {
      const worker = (await liveWorkers()).find((w) => w.id === draining);
      return worker?.drain === 'draining' ? worker : null;
    });
    expect(seen.in_flight_steps).toBe(1);

    // New work goes to the other worker only.
    const fresh = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        create(owner.key, `/call sleep {"ms":100,"marker":${marker + n}}`, ['sleep']),
      ),
    );
    for (const id of fresh) expect(await ended(id)).toBe('completed');
    for (const id of fresh) {
      for (const row of await stepsOf(id)) expect(row.executed_by).not.toBe(draining);
    }

    // Its own step finishes there, once; what follows it runs elsewhere.
    expect(await ended(busy)).toBe('completed');
    const busySteps = await stepsOf(busy);
    const tool = busySteps.find((row) => row.kind === 'tool_call')!;
    expect(tool).toMatchObject({ executed_by: draining, attempt: 1, status: 'completed' });
    expect(busySteps.at(-1)).toMatchObject({ kind: 'model_call', status: 'completed' });
    expect(busySteps.at(-1)!.executed_by).not.toBe(draining);
    expect(callsWith(marker)).toHaveLength(1);

    const drained = await waitFor('the worker to report drained', async () => {
      const worker = (await liveWorkers()).find((w) => w.id === draining);
      return worker?.drain === 'drained' ? worker : null;
    });
    expect(drained.in_flight_steps).toBe(0);
    // An admin's console was told of each change (asked, draining, drained); a tenant's of none.
    await waitFor(
      'three notices about the draining worker',
      async () => watching.ids.filter((id) => id === draining).length >= 3,
    );
    expect(tenantWatching.ids).toEqual([]);
    watching.stop();
    tenantWatching.stop();
    expect(await auditRow(asked.audit_id)).toMatchObject({
      action: 'drain',
      params: { worker_id: draining },
      affected_ids: [draining],
    });
  });
});

describe('recovery activity', () => {
  it("records a takeover of a killed worker's steps for the overview", async () => {
    while ((await liveWorkers()).filter((worker) => worker.drain === 'active').length < 2) {
      await workers.start();
    }
    const owner = await tenant();
    const marker = Date.now();
    const response = await create(owner.key, `/call sleep {"ms":1000,"marker":${marker}}`, [
      'sleep',
    ]);
    await waitFor('the tool call to start', async () => callsWith(marker).length === 1);
    const step = (await stepsOf(response)).find((row) => row.kind === 'tool_call')!;
    const victim = workers.all.find((worker) =>
      step.lease_owner!.includes(`:${worker.child.pid}:`),
    )!;
    await victim.stop('SIGKILL');
    expect(await ended(response)).toBe('completed');
    const overview = await admin<{
      recovery: {
        last_takeover_at: string | null;
        requeued: Record<string, { steps: number; runs: number }>;
      };
    }>('GET', '/v1/admin/overview');
    expect(overview.recovery.last_takeover_at).not.toBeNull();
    expect(overview.recovery.requeued.takeover.steps).toBeGreaterThanOrEqual(1);
    expect(overview.recovery.requeued.takeover.runs).toBeGreaterThanOrEqual(1);
  });

  it('cancels a foreground response too; its waiting request answers with it', async () => {
    if ((await liveWorkers()).every((worker) => worker.drain !== 'active')) await workers.start();
    const owner = await tenant();
    const marker = Date.now();
    const waiting = ratchet.request('/v1/responses', {
      method: 'POST',
      key: owner.key,
      body: JSON.stringify({
        model: 'mock',
        input: `/call hang {"marker":${marker}}`,
        tools: [{ type: 'function', name: 'hang' }],
      }),
    });
    await waitFor('the hanging call', async () => callsWith(marker).length === 1);
    const cancelled = await admin<Action>('POST', '/v1/admin/responses/cancel', {
      owner: owner.id,
    });
    expect(cancelled.affected).toBe(1);
    const answer = await waiting;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({
      id: cancelled.affected_ids[0],
      status: 'cancelled',
    });
    await waitFor('the call to be aborted', async () => callsWith(marker)[0].abortedAt !== null);
  });
});

describe('purge', () => {
  it('deletes terminal responses older than the period with what they recorded, never a live one', async () => {
    if ((await liveWorkers()).every((worker) => worker.drain !== 'active')) await workers.start();
    const owner = await tenant();
    const done = await create(owner.key, 'Soon forgotten.');
    expect(await ended(done)).toBe('completed');
    const live = await create(owner.key, `/call hang {"marker":${Date.now()}}`, ['hang']);
    await waitFor('the live response to run', async () => (await statusOf(live)) === 'in_progress');

    const none = await admin<{ purged: number }>('POST', '/v1/admin/purge', {
      older_than: '30d',
      dry_run: true,
    });
    expect(none.purged).toBe(0);

    const dry = await admin<{ purged: number; ids: string[]; audit_id: number }>(
      'POST',
      '/v1/admin/purge',
      { older_than: 0, dry_run: true },
    );
    expect(dry.ids).toContain(done);
    expect(dry.ids).not.toContain(live);
    expect(await statusOf(done)).toBe('completed');

    const purged = await admin<{ purged: number; ids: string[]; audit_id: number }>(
      'POST',
      '/v1/admin/purge',
      { older_than: 0 },
    );
    expect(purged.ids).toContain(done);
    expect(purged.ids).not.toContain(live);
    expect((await ratchet.request(`/v1/responses/${done}`)).status).toBe(404);
    expect(await statusOf(live)).toBe('in_progress');
    for (const table of ['steps', 'events', 'scopes', 'input_items']) {
      expect(await query(`SELECT 1 FROM ${table} WHERE response_id = $1`, [done])).toEqual([]);
    }
    expect(await auditRow(purged.audit_id)).toMatchObject({
      action: 'purge',
      dry_run: false,
      params: { older_than_seconds: 0 },
      affected_count: purged.purged,
    });
    expect((await auditRow(dry.audit_id)).dry_run).toBe(true);
    await admin('POST', '/v1/admin/responses/cancel', { ids: [live] });
  });
});

describe('overview and audit', () => {
  it('shows queues, workers, statuses, recovery and upstream errors', async () => {
    if ((await liveWorkers()).every((worker) => worker.drain !== 'active')) await workers.start();
    const owner = await tenant();
    const failed = await create(owner.key, '/fail 401 bad key');
    const completed = await create(owner.key, 'Fine.');
    expect(await ended(failed)).toBe('failed');
    expect(await ended(completed)).toBe('completed');
    const overview = await waitFor('a sweep to be recorded', async () => {
      const view = await admin<{
        recovery: {
          last_sweep_at: string | null;
          requeued: Record<string, { steps: number }>;
          recent_runs: { kind: string; ran_at: string; steps: number; scopes: number }[];
          backlog: Record<string, number>;
        };
        upstream: { model: string; failed: number; calls: number; errors_by_code: object }[];
        responses: { by_status: Record<string, number> };
        workers: Worker[];
        queues: Record<string, Record<string, number>>;
      }>('GET', '/v1/admin/overview?window_seconds=3600');
      return view.recovery.last_sweep_at ? view : null;
    });
    expect(Object.keys(overview.queues.ratchet)).toEqual(
      expect.arrayContaining(['waiting', 'active', 'delayed', 'failed']),
    );
    expect(overview.workers.length).toBeGreaterThan(0);
    expect(overview.workers[0].in_flight_by_kind).toEqual(expect.any(Object));
    // The runs before this test requeued work: an operator's, and a takeover of a killed worker.
    const kinds = overview.recovery.recent_runs.map((run) => run.kind);
    expect(kinds).toEqual(expect.arrayContaining(['admin', 'takeover']));
    for (const run of overview.recovery.recent_runs) {
      expect(run.steps + run.scopes).toBeGreaterThan(0);
    }
    expect(Object.keys(overview.recovery.backlog).sort()).toEqual([
      'expired_leases',
      'retried_steps',
      'undispatched_steps',
    ]);
    // (The steps that ran twice above went with the purge of every ended response.)
    expect(overview.recovery.backlog.expired_leases).toBe(0);
    expect(overview.responses.by_status.failed).toBeGreaterThanOrEqual(1);
    expect(overview.responses.by_status.completed).toBeGreaterThanOrEqual(1);
    const mock = overview.upstream.find((row) => row.model === 'mock')!;
    expect(mock.failed).toBeGreaterThanOrEqual(1);
    expect(mock.calls).toBeGreaterThan(mock.failed);
    expect(Object.keys(mock.errors_by_code).length).toBeGreaterThan(0);
  });

  it('pages the audit trail newest first', async () => {
    for (let i = 0; i < 3; i++) {
      await admin('POST', '/v1/admin/purge', { older_than: '30d', dry_run: true });
    }
    const first = await admin<{ data: AuditRow[]; has_more: boolean; last_id: number }>(
      'GET',
      '/v1/admin/audit?limit=2&action=purge',
    );
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
    expect(first.data[0].id).toBeGreaterThan(first.data[1].id);
    const next = await admin<{ data: AuditRow[] }>(
      'GET',
      `/v1/admin/audit?limit=2&action=purge&after=${first.last_id}`,
    );
    expect(next.data[0].id).toBeLessThan(first.last_id);
    expect(next.data.every((row) => row.action === 'purge')).toBe(true);
  });
});

describe('bad requests', () => {
  it.each([
    ['/v1/admin/responses/requeue', {}, 'all', 'missing_filter'],
    ['/v1/admin/responses/cancel', { status: ['completed'] }, 'status[0]', 'invalid_value'],
    ['/v1/admin/responses/cancel', { ids: 'resp_1' }, 'ids', 'invalid_type'],
    ['/v1/admin/responses/requeue', { model: 'mock', bogus: 1 }, 'bogus', 'unknown_parameter'],
    [
      '/v1/admin/responses/requeue',
      { created_before: 'yesterday' },
      'created_before',
      'invalid_value',
    ],
    ['/v1/admin/responses/cancel', { model: 'mock', limit: 0 }, 'limit', 'invalid_value'],
    ['/v1/admin/purge', {}, 'older_than', 'missing_required_parameter'],
    ['/v1/admin/purge', { older_than: '3 weeks' }, 'older_than', 'invalid_value'],
    ['/v1/admin/purge', { older_than: -1 }, 'older_than', 'invalid_value'],
    ['/v1/admin/workers/any/drain', { now: true }, 'now', 'unknown_parameter'],
  ])('POST %s %j is a 400 naming %s', async (path, body, param, code) => {
    const answer = await ratchet.request(path, { method: 'POST', body: JSON.stringify(body) });
    expect(answer.status).toBe(400);
    const { error } = (await answer.json()) as { error: Record<string, unknown> };
    expect(error).toEqual({ ...error, type: 'invalid_request_error', param, code });
    expect(typeof error.message).toBe('string');
  });

  it.each([
    ['/v1/admin/stuck?limit=0', 'limit'],
    ['/v1/admin/stuck?reason=slow', 'reason'],
    ['/v1/admin/stuck?colour=red', 'colour'],
    ['/v1/admin/audit?after=x', 'after'],
    ['/v1/admin/overview?window_seconds=0', 'window_seconds'],
  ])('GET %s is a 400 naming %s', async (path, param) => {
    const answer = await ratchet.request(path);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { type: 'invalid_request_error', param } });
  });

  it('draining a worker that is not alive is a 404', async () => {
    const answer = await ratchet.request('/v1/admin/workers/nobody/drain', { method: 'POST' });
    expect(answer.status).toBe(404);
    expect(await answer.json()).toMatchObject({ error: { code: 'worker_not_found', param: 'id' } });
  });

  it('tenant keys get the unknown-route answer', async () => {
    const { key } = await tenant();
    const answer = await ratchet.request('/v1/admin/stuck', { key });
    expect(answer.status).toBe(404);
    expect(await answer.json()).toEqual({
      error: {
        message: 'Unknown request URL: GET /v1/admin/stuck.',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });
});
