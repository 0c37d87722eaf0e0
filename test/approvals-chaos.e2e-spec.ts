import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, escapeIdentifier } from 'pg';
import { migrate } from '../libs/store/src/migrate';
import {
  sleep,
  startChaosCluster,
  startChaosPostgres,
  startChaosRedis,
  Timeline,
  type ChaosPostgres,
  type ChaosRedis,
  type ProcessGroup,
} from './support/chaos';
import { startFakeTools, type FakeTools } from './support/fake-tools';

// Approvals under chaos: background responses whose trees pause on approvals at the top and
// two agents down, on worker processes from dist/ that the test SIGKILLs (and replaces)
// while the trees run to their pause and again while they resume; Redis is flushed while
// they pause and restarted empty while they resume. Every response must pause with both
// requests, and every answering response must complete with its whole output; each call
// that needed approval runs only after it was approved and under one Idempotency-Key (one
// step: adoption never makes a second), and no call ran twice as two steps.

const RESPONSES = 6;
const WORKERS = 2;
const SETTLE_MS = 60_000;

const timeline = new Timeline();
const cleanups: (() => Promise<void> | void)[] = [];
let postgres: ChaosPostgres | undefined;
let redis: ChaosRedis | undefined;
let tools: FakeTools | undefined;
let workers: ProcessGroup | undefined;
let apiUrl = '';
let apiKey = '';
let kills = 0;

interface ResponseBody {
  id: string;
  status: string;
  output: {
    type: string;
    id: string;
    name?: string;
    status?: string;
    output?: string | null;
    content?: { text?: string }[];
  }[];
}

async function call(pathname: string, body?: unknown): Promise<ResponseBody> {
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await fetch(`${apiUrl}${pathname}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      if (answer.status >= 500 && attempt < 20) throw new Error(`HTTP ${answer.status}`);
      const json = (await answer.json()) as ResponseBody;
      if (answer.status !== 200) throw new Error(`HTTP ${answer.status}: ${JSON.stringify(json)}`);
      return json;
    } catch (error) {
      // A create is not retried: only reads ride out a restarting API or Redis.
      if (body !== undefined || attempt >= 20) throw error;
      await sleep(250);
    }
  }
}

async function settled(id: string): Promise<ResponseBody> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const response = await call(`/v1/responses/${id}`);
    if (!['queued', 'in_progress'].includes(response.status)) return response;
    if (Date.now() > deadline) {
      const steps = await fetch(`${apiUrl}/v1/responses/${id}/steps`, {
        headers: { authorization: `Bearer ${apiKey}` },
      }).then((answer) => answer.text());
      throw new Error(`${id} stayed ${response.status}: ${steps}`);
    }
    await sleep(200);
  }
}

/**
 * Kills a worker 300 ms in, then a ready one every 1.5-2.5 s (replacing each), at most three
 * in all, until `stop` resolves; returns how many. Replacements get time to boot, or the
 * kills alone would keep every worker from working.
 */
async function killWhile(stop: Promise<unknown>): Promise<number> {
  const before = kills;
  let done = false;
  void stop.finally(() => (done = true));
  let wait = 300;
  do {
    await sleep(wait);
    wait = 1500 + Math.floor(Math.random() * 1000);
    const alive = workers!.alive();
    const ready = alive.filter((p) => p.service.output().includes('processing jobs'));
    const pool = kills === before ? alive : ready;
    const target = pool[Math.floor(Math.random() * pool.length)];
    if (!target) continue;
    await workers!.kill(target);
    kills += 1;
    workers!.start();
  } while (!done && kills - before < 3);
  return kills - before;
}

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ratchet-approvals-chaos-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  postgres = await startChaosPostgres();
  cleanups.push(() => postgres!.destroy());
  redis = await startChaosRedis();
  cleanups.push(() => redis!.stop());
  tools = await startFakeTools();
  cleanups.push(() => tools!.close());
  const admin = new Client({ connectionString: postgres.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${escapeIdentifier('ratchet_approvals_chaos')}`);
  } finally {
    await admin.end();
  }
  const databaseUrl = postgres.url('ratchet_approvals_chaos');
  await migrate(databaseUrl);
  const configFile = path.join(dir, 'ratchet.yaml');
  writeFileSync(
    configFile,
    `
models:
  mock: { provider: mock }
tools:
  asked: { type: http, url: ${tools.url}/echo, approval: always, parameters: { type: object } }
  nap: { type: http, url: ${tools.url}/sleep, parameters: { type: object } }
  inner: { type: agent, model: mock, tools: [asked, nap] }
  outer: { type: agent, model: mock, tools: [inner, nap] }
`,
  );
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    RATCHET_CONFIG: configFile,
    RATCHET_REDIS_PREFIX: 'approvals-chaos',
    RATCHET_ADMIN_KEY: `admin-${randomBytes(16).toString('hex')}`,
    LOG_LEVEL: 'warn',
    RATCHET_STEP_LEASE_MS: '6000',
    RATCHET_SWEEP_INTERVAL_MS: '300',
    RATCHET_SWEEP_GRACE_MS: '1000',
  };
  const cluster = await startChaosCluster({
    env,
    workers: WORKERS,
    workerEnv: { WORKER_CONCURRENCY: '8' },
    timeline,
    cleanup: (stop) => cleanups.push(stop),
  });
  ({ workers, apiUrl, apiKey } = cluster);
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const callsOf = (...lines: [string, unknown][]): string =>
  lines.map(([name, args]) => `/call ${name} ${JSON.stringify(args)}`).join('\n');
const sleepy = (script: string): string => `/sleep 600\n${script}`;

it('pauses and resumes trees exactly once while workers die and Redis loses everything', async () => {
  const markers = Array.from({ length: RESPONSES }, (_, i) => ({
    top: `chaos-top-${i}`,
    deep: `chaos-deep-${i}`,
  }));
  const created = await Promise.all(
    markers.map((marker) =>
      call('/v1/responses', {
        model: 'mock',
        background: true,
        // Each model call of each scope sleeps first, so kills land mid-tree both ways.
        input: sleepy(
          callsOf(
            ['asked', { marker: marker.top }],
            ['nap', { ms: 1200 }],
            [
              'outer',
              {
                input: sleepy(
                  callsOf(
                    [
                      'inner',
                      {
                        input: sleepy(
                          callsOf(['asked', { marker: marker.deep }], ['nap', { ms: 900 }]),
                        ),
                      },
                    ],
                    ['nap', { ms: 500 }],
                  ),
                ),
              },
            ],
          ),
        ),
        tools: ['asked', 'nap', 'outer'].map((name) => ({ type: 'function', name })),
      }),
    ),
  );
  // To the pause: kills throughout, and all of Redis flushed once.
  const pausing = Promise.all(created.map((response) => settled(response.id)));
  const flush = sleep(1200).then(() => redis!.flushAll());
  const [pauseKills] = await Promise.all([killWhile(pausing), flush]);
  expect(pauseKills).toBeGreaterThan(0);
  const paused = await pausing;
  for (const response of paused) {
    expect(response.status).toBe('completed');
    const requests = response.output.filter((item) => item.type === 'mcp_approval_request');
    expect(requests).toHaveLength(2);
  }
  const approvedAt = Date.now();
  // Nothing that needed approval ran before it.
  expect(tools!.calls.filter((c) => JSON.stringify(c.body).includes('chaos-'))).toEqual([]);

  // Answered: kills throughout, and Redis restarted empty once.
  const resumedIds = await Promise.all(
    paused.map(async (response) => {
      const requests = response.output.filter((item) => item.type === 'mcp_approval_request');
      const next = await call('/v1/responses', {
        model: 'mock',
        background: true,
        previous_response_id: response.id,
        input: requests.map((request) => ({
          type: 'mcp_approval_response',
          approval_request_id: request.id,
          approve: true,
        })),
      });
      return next.id;
    }),
  );
  const resuming = Promise.all(resumedIds.map((id) => settled(id)));
  const restart = sleep(900).then(() => redis!.restart(1000));
  const [resumeKills] = await Promise.all([killWhile(resuming), restart]);
  const resumed = await resuming;
  expect(resumeKills).toBeGreaterThan(0);

  resumed.forEach((response, i) => {
    expect(response.status).toBe('completed');
    expect(response.output.filter((item) => item.type === 'mcp_approval_request')).toEqual([]);
    const calls = response.output.filter((item) => item.type === 'mcp_call');
    expect(calls.map((item) => [item.name, item.status])).toEqual([
      ['asked', 'completed'],
      ['outer', 'completed'],
    ]);
    expect(calls[1].output).toContain(markers[i].deep);
    const answer = response.output.at(-1);
    expect(answer?.type).toBe('message');
    expect(answer?.content?.[0]?.text).toContain(markers[i].top);
  });
  for (const marker of markers) {
    for (const text of [marker.top, marker.deep]) {
      const runs = tools!.calls.filter((c) => JSON.stringify(c.body).includes(`"${text}"`));
      expect(runs.length).toBeGreaterThan(0);
      // One step ran it (a rerun after a kill keeps its key); never before the approval.
      expect(new Set(runs.map((c) => c.idempotencyKey)).size).toBe(1);
      expect(runs.every((c) => c.startedAt >= approvedAt)).toBe(true);
    }
  }
}, 180_000);
