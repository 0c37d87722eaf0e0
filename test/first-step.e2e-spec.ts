import { Sql } from '@ratchet/store';
import type OpenAI from 'openai';
import { Liveness } from '../apps/worker/src/liveness.service';
import { queryRows } from './support/database';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';
import { waitFor } from './support/wait';

// A new response's first model call (but a streamed one's) is recorded with the response,
// pending, and its job carries the scope (libs/store/src/first-step.ts): the worker that takes
// the job makes the call before any statement of its own, and the call's outcome claims and
// finishes it in the statement that records what follows. A job older than a quarter of the sweep's grace is
// not trusted so: its step is claimed first, as any queued step. (What a worker that dies
// mid-call, or a lost job, leaves behind: failover.e2e-spec.ts.)

const CONFIG = `
models:
  mock: { provider: mock }
`;

/** The names of the statements a worker sends, in order. */
function watchStatements(ratchet: TestRatchet): string[] {
  const seen: string[] = [];
  const sql = ratchet.workers[0].get(Sql);
  const query = sql.query.bind(sql);
  jest.spyOn(sql, 'query').mockImplementation((statement, values) => {
    seen.push(statement.name.replace(/-batch$/, ''));
    return query(statement, values);
  });
  return seen;
}

interface FirstStepRow {
  kind: string;
  status: string;
  attempt: number;
  executed_by: string | null;
  started: boolean;
  leased: boolean | null;
}

function stepsOf(ratchet: TestRatchet, id: string): Promise<FirstStepRow[]> {
  return queryRows<FirstStepRow>(
    ratchet.database.url,
    `SELECT kind::text AS kind, status::text AS status, attempt, executed_by,
            started_at IS NOT NULL AS started, leased
       FROM steps WHERE response_id = $1 ORDER BY round, index`,
    [id],
  );
}

describe('with the default sweep', () => {
  let ratchet: TestRatchet;
  let client: OpenAI;
  let seen: string[];

  beforeAll(async () => {
    ratchet = await startRatchet('first_step', { configYaml: CONFIG });
    client = ratchet.client(await ratchet.newKey());
    seen = watchStatements(ratchet);
  });

  afterAll(async () => {
    await ratchet?.close();
  });

  beforeEach(() => {
    seen.length = 0;
  });

  it('runs a foreground response with no statement of the worker before its first model call', async () => {
    const responses = 10;
    for (let i = 0; i < responses; i++) {
      const response = await client.responses.create({ model: 'mock', input: `hello ${i}` });
      expect(response.status).toBe('completed');
      expect(response.output_text).toBe(`You said: hello ${i}`);
      // The call ran once, at attempt 1, and shows who ran it, as a claimed one would.
      expect(await stepsOf(ratchet, response.id)).toEqual([
        {
          kind: 'model_call',
          status: 'completed',
          attempt: 1,
          executed_by: ratchet.workers[0].get(Liveness).workerId,
          started: true,
          leased: null,
        },
      ]);
    }
    // The worker recorded no first round, and the outcome's statement did the claiming (sent
    // again if it came before the create's commit): a call claimed first is one whose worker
    // was held up past FIRST_TAKE_AFTER_MS (20 ms).
    expect(seen).not.toContain('append-first-round');
    expect(seen.filter((name) => name === 'claim-steps').length).toBeLessThan(responses / 2);
  });

  it('claims a first model call that runs long before it ends, and holds its lease', async () => {
    const answer = client.responses.create({ model: 'mock', input: '/sleep 1500\nslowly' });
    const running = await waitForRunning(ratchet);
    expect(running).toMatchObject({ attempt: 1, leased: true });
    expect(running.executed_by).toBe(ratchet.workers[0].get(Liveness).workerId);
    const response = await answer;
    expect(response.output_text).toBe('You said: slowly');
    expect(seen.filter((name) => name === 'claim-steps')).toHaveLength(1);
    expect(await stepsOf(ratchet, response.id)).toMatchObject([
      { status: 'completed', attempt: 1 },
    ]);
  });

  it('starts a streamed response as before, with the worker recording the first round', async () => {
    const stream = await client.responses.create({ model: 'mock', input: 'live', stream: true });
    for await (const event of stream) void event;
    expect(seen.filter((name) => name === 'append-first-round')).toHaveLength(1);
  });

  it('keeps a background response queued until its first model call starts, and runs it the same way', async () => {
    const quick = await client.responses.create({
      model: 'mock',
      input: 'later',
      background: true,
    });
    expect(quick.status).toBe('queued');
    expect((await waitForResponse(client, quick.id)).output_text).toBe('You said: later');

    const slow = await client.responses.create({
      model: 'mock',
      input: '/sleep 1500\nslowly later',
      background: true,
    });
    expect(slow.status).toBe('queued');
    // Claimed 20 ms in, the call holds a lease, and the response has started.
    expect(await waitForRunning(ratchet)).toMatchObject({ attempt: 1, leased: true });
    expect((await client.responses.retrieve(slow.id)).status).toBe('in_progress');
    expect((await waitForResponse(client, slow.id)).output_text).toBe('You said: slowly later');
    expect(seen).not.toContain('append-first-round');
  });
});

describe('with a sweep that takes every pending step at once', () => {
  let ratchet: TestRatchet;
  let client: OpenAI;
  let seen: string[];

  beforeAll(async () => {
    // No grace: a pending step is the sweep's as soon as it is seen, so no job is fresh.
    ratchet = await startRatchet('first_step_stale', {
      configYaml: CONFIG,
      env: { RATCHET_SWEEP_GRACE_MS: '0', RATCHET_SWEEP_INTERVAL_MS: '60000' },
    });
    client = ratchet.client(await ratchet.newKey());
    seen = watchStatements(ratchet);
  });

  afterAll(async () => {
    await ratchet?.close();
  });

  it('claims the first model call of a job that is not fresh before running it', async () => {
    const response = await client.responses.create({ model: 'mock', input: 'hello' });
    expect(response.output_text).toBe('You said: hello');
    // Claimed, then its scope read, as a step from the queue is; then run and finished.
    expect(seen.filter((name) => name === 'claim-steps')).toHaveLength(1);
    const readAt = seen.indexOf('scope-context-and-state');
    expect(seen.indexOf('claim-steps')).toBeLessThan(readAt);
    expect(seen.indexOf('finish-steps')).toBeGreaterThan(readAt);
    expect(seen).not.toContain('append-first-round');
    expect(await stepsOf(ratchet, response.id)).toMatchObject([
      { status: 'completed', attempt: 1, started: true },
    ]);
  });
});

/** The running model call of the database, once there is one. */
function waitForRunning(ratchet: TestRatchet): Promise<FirstStepRow> {
  return waitFor('a running model call', async () => {
    const [row] = await queryRows<FirstStepRow>(
      ratchet.database.url,
      `SELECT kind::text AS kind, status::text AS status, attempt, executed_by,
              started_at IS NOT NULL AS started, leased
         FROM steps WHERE status = 'running' AND kind = 'model_call'`,
    );
    return row;
  });
}
