import { stepId as derivedStepId, type NewStep, type Usage } from '@ratchet/core';
import type { Client } from 'pg';
import {
  leaseOwnerOf,
  ResponsesRepository,
  Sql,
  StepsRepository,
  topScopeId,
  type AppendBudget,
  type InlineClaim,
  type StepOutcome,
} from '@ratchet/store';
import { createTestDatabase, type TestDatabase, withClient } from './support/database';

// The engine's round statements run many responses' operations as one statement when they
// arrive together. Each operation must come out as it would alone: fenced, within its own
// budget, refused when its response has ended, with its own usage.

const RESPONSES = 12;

let database: TestDatabase;
let sql: Sql;
let responses: ResponsesRepository;
let steps: StepsRepository;
let batchedStatements: string[];

beforeAll(async () => {
  database = await createTestDatabase('batching');
  sql = new Sql(database.url, 20);
  responses = new ResponsesRepository(sql);
  steps = new StepsRepository(sql);
  await withClient(database.url, (client) =>
    client.query(
      `INSERT INTO api_keys (id, name, key_hash, prefix) VALUES ('key_batch', 'b', 'h', 'p')`,
    ),
  );
  const query = sql.query.bind(sql);
  jest.spyOn(sql, 'query').mockImplementation(async (statement, values) => {
    if (statement.name.endsWith('-batch')) batchedStatements.push(statement.name);
    if (statement.name === explain?.name) {
      explain.plan = await explainAnalyzed(statement.text, values ?? []);
      explain = null;
    }
    return query(statement, values);
  });
});

/** The next run of the statement so named is first explained, in a transaction rolled back. */
let explain: { name: string; plan?: PlanNode } | null = null;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Actual Loops': number;
  'Actual Rows': number;
  Plans?: PlanNode[];
}

async function explainAnalyzed(text: string, values: unknown[]): Promise<PlanNode> {
  return withClient(database.url, async (client) => {
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
        values,
      );
      return rows[0]['QUERY PLAN'][0].Plan;
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

function planNodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(planNodes)];
}

beforeEach(() => {
  batchedStatements = [];
});

afterAll(async () => {
  await sql?.onModuleDestroy();
  await database?.drop();
});

let counter = 0;

async function newResponse(): Promise<string> {
  const id = `resp_batch${++counter}`;
  await responses.create({
    id,
    ownerId: 'key_batch',
    model: 'mock',
    request: { model: 'mock', input: 'hi', background: true },
    inputItems: [],
    context: [],
    tools: { definitions: [], server: {} },
    deadlineAt: new Date(Date.now() + 60_000),
  });
  return id;
}

const modelCall: NewStep = {
  index: 0,
  kind: 'model_call',
  callId: null,
  name: null,
  arguments: null,
};
const toolCall: NewStep = {
  index: 0,
  kind: 'tool_call',
  callId: 'call_1',
  name: 'noop',
  arguments: '{}',
};
const claim: InlineClaim = { owner: 'worker-test', leaseMs: 30_000, indexes: [0] };
const budget: AppendBudget = { maxSteps: 100, maxToolCalls: null };

function usage(tokens: number): Usage {
  return {
    input_tokens: tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: 2 * tokens,
  };
}

const completed = (tokens: number): StepOutcome => ({
  status: 'completed',
  result: { output: [], finishReason: 'stop' },
  usage: usage(tokens),
});

/** Starts responses at once: each first model call is recorded, claimed by the test. */
async function startAll(ids: string[]): Promise<string[]> {
  const started = await Promise.all(
    ids.map((id) =>
      steps.appendFirstRound(
        { responseId: id, scopeId: topScopeId(id), round: 0, steps: [modelCall] },
        budget,
        claim,
      ),
    ),
  );
  return started.map((result) => {
    if (!result || result === 'missing') throw new Error('first round not recorded');
    return result.steps[0].id;
  });
}

async function stepRows(responseId: string) {
  return withClient(database.url, async (client) => {
    const { rows } = await client.query<{ round: number; kind: string; status: string }>(
      `SELECT round, kind::text AS kind, status::text AS status FROM steps
        WHERE response_id = $1 ORDER BY round, index`,
      [responseId],
    );
    return rows;
  });
}

it('records many responses in one statement, each as it would be alone', async () => {
  const ids = await Promise.all(Array.from({ length: RESPONSES }, () => newResponse()));
  const first = await startAll(ids);
  expect(batchedStatements).toContain('append-first-round-batch');

  // Every model call finishes at once and leads to a tool round; response 0 is late: its
  // attempt was taken over, so its outcome is fenced out and its round not recorded.
  batchedStatements = [];
  const appended = await Promise.all(
    ids.map((id, i) =>
      steps.finishAndAppend(
        [{ stepId: first[i], attempt: i === 0 ? 2 : 1, outcome: completed(i + 1) }],
        {
          responseId: id,
          scopeId: topScopeId(id),
          round: 1,
          steps: [toolCall],
        },
        budget,
        claim,
      ),
    ),
  );
  expect(batchedStatements).toContain('finish-and-append-batch');
  expect(appended[0]).toEqual({ recorded: false, append: { type: 'ended' }, missing: false });
  for (const result of appended.slice(1)) {
    expect(result.recorded).toBe(true);
    expect(result.append).toMatchObject({
      type: 'recorded',
      steps: [{ round: 1, index: 0, kind: 'tool_call', status: 'running', callId: 'call_1' }],
    });
  }
  expect(await stepRows(ids[0])).toEqual([{ round: 0, kind: 'model_call', status: 'running' }]);

  // The tool calls finish and every response ends at once, each with its own usage.
  batchedStatements = [];
  const ended = await Promise.all(
    ids.slice(1).map((id, i) => {
      const result = appended[i + 1].append;
      if (result.type !== 'recorded') throw new Error('no tool step');
      return steps.finishAndEnd(
        [{ stepId: result.steps[0].id, attempt: 1, outcome: completed(100) }],
        { responseId: id, status: 'completed', output: [], error: null, incompleteDetails: null },
      );
    }),
  );
  expect(batchedStatements).toContain('finish-and-end-batch');
  ended.forEach((result, i) => {
    const tokens = i + 2 + 100;
    expect(result.recorded).toBe(true);
    expect(result.ended).toMatchObject({
      id: ids[i + 1],
      status: 'completed',
      usage: usage(tokens),
    });
  });
  expect(await stepRows(ids[1])).toEqual([
    { round: 0, kind: 'model_call', status: 'completed' },
    { round: 1, kind: 'tool_call', status: 'completed' },
  ]);
});

it('refuses, within a batch, only the rounds over their own budget or of ended responses', async () => {
  const ids = await Promise.all(Array.from({ length: RESPONSES }, () => newResponse()));
  const first = await startAll(ids);
  // Response 1 is cancelled; response 2 may record no more steps.
  await withClient(database.url, (client) =>
    client.query(`UPDATE responses SET status = 'cancelled' WHERE id = $1`, [ids[1]]),
  );

  batchedStatements = [];
  const appended = await Promise.all(
    ids.map((id, i) =>
      steps.finishAndAppend(
        [{ stepId: first[i], attempt: 1, outcome: completed(1) }],
        {
          responseId: id,
          scopeId: topScopeId(id),
          round: 1,
          steps: [toolCall],
        },
        i === 2 ? { maxSteps: 1, maxToolCalls: null } : budget,
        claim,
      ),
    ),
  );

  expect(batchedStatements).toContain('finish-and-append-batch');
  expect(appended[1]).toEqual({ recorded: true, append: { type: 'ended' }, missing: false });
  expect(appended[2]).toEqual({ recorded: true, append: { type: 'over_budget' }, missing: false });
  for (const i of [0, ...ids.keys()].filter((n) => n > 2)) {
    expect(appended[i]).toMatchObject({ recorded: true, append: { type: 'recorded' } });
  }
  expect(await stepRows(ids[2])).toEqual([{ round: 0, kind: 'model_call', status: 'completed' }]);
});

it('records a decision taken twice at once only once', async () => {
  const id = await newResponse();
  const other = await newResponse();
  await startAll([id, other]);
  const round = (responseId: string) => ({
    responseId,
    scopeId: topScopeId(responseId),
    round: 1,
    steps: [toolCall],
  });

  const [a, b, c] = await Promise.all([
    steps.appendRound(round(id), budget),
    steps.appendRound(round(other), budget),
    steps.appendRound(round(id), budget),
  ]);

  expect(a.type).toBe('recorded');
  expect(b.type).toBe('recorded');
  expect(c).toEqual({ type: 'exists' });
  expect((await stepRows(id)).filter((row) => row.round === 1)).toHaveLength(1);
  // The step's id is derived from its scope, round and index: the second recording had the
  // same, which the primary key refused.
  expect(a).toMatchObject({ steps: [{ id: derivedStepId(topScopeId(id), 1, 0) }] });
});

/** A tool call's step row of the response's top scope, inserted as another recorder would. */
async function insertToolStep(
  client: Client,
  step: { id: string; responseId: string; round: number; status: string },
): Promise<void> {
  await client.query(
    `INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, call_id, name,
                        arguments)
     VALUES ($1, $2, $3, $4, 0, 'tool_call', $5, 'call_0', 'noop', '{}')`,
    [step.id, step.responseId, topScopeId(step.responseId), step.round, step.status],
  );
}

it('records a round once that was recorded under a random id, before ids were derived', async () => {
  const id = await newResponse();
  await startAll([id]);
  // As a worker of an earlier version recorded it: the same round and index, another id.
  await withClient(database.url, (client) =>
    insertToolStep(client, {
      id: 'step_00112233445566778899aabb',
      responseId: id,
      round: 1,
      status: 'pending',
    }),
  );
  const again = await steps.appendRound(
    { responseId: id, scopeId: topScopeId(id), round: 1, steps: [toolCall] },
    budget,
  );
  expect(again).toEqual({ type: 'exists' });
  expect((await stepRows(id)).filter((row) => row.round === 1)).toHaveLength(1);
});

it('records a round once that a transaction still open records under the same ids', async () => {
  const id = await newResponse();
  await startAll([id]);
  const scopeId = topScopeId(id);
  const round = { responseId: id, scopeId, round: 1, steps: [toolCall] };
  // Another recorder has inserted the round and not committed: this statement's snapshot
  // cannot see it, its insert waits on the primary key, fails once the other commits, and
  // runs again, to find the round recorded.
  const result = await withClient(database.url, async (client) => {
    await client.query('BEGIN');
    await insertToolStep(client, {
      id: derivedStepId(scopeId, 1, 0),
      responseId: id,
      round: 1,
      status: 'pending',
    });
    const recording = steps.appendRound(round, budget);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.query('COMMIT');
    return recording;
  });
  expect(result).toEqual({ type: 'exists' });
  expect((await stepRows(id)).filter((row) => row.round === 1)).toHaveLength(1);
});

it('refuses a round whose step id another step has, rather than pass it for recorded', async () => {
  const id = await newResponse();
  await startAll([id]);
  const scopeId = topScopeId(id);
  // A stand-in for a collision: a step of another round holds the id this round's step gets.
  await withClient(database.url, (client) =>
    insertToolStep(client, {
      id: derivedStepId(scopeId, 1, 0),
      responseId: id,
      round: 7,
      status: 'completed',
    }),
  );
  await expect(
    steps.appendRound({ responseId: id, scopeId, round: 1, steps: [toolCall] }, budget),
  ).rejects.toMatchObject({ code: '23505', constraint: 'steps_pkey' });
  expect((await stepRows(id)).filter((row) => row.round === 1)).toHaveLength(0);
});

/** A round of `calls` parallel tool calls after the first model call. */
function toolRound(responseId: string, calls: number) {
  return {
    responseId,
    scopeId: topScopeId(responseId),
    round: 1,
    steps: Array.from({ length: calls }, (_, index) => ({
      ...toolCall,
      index,
      callId: `call_${index}`,
    })),
  };
}

async function dispatchedAt(responseId: string): Promise<(Date | null)[]> {
  return withClient(database.url, async (client) => {
    const { rows } = await client.query<{ dispatched_at: Date | null }>(
      `SELECT dispatched_at FROM steps WHERE response_id = $1 AND round = 1 ORDER BY index`,
      [responseId],
    );
    return rows.map((row) => row.dispatched_at);
  });
}

it('records a round dispatched only when it surely fits the concurrency limits', async () => {
  const [fits, tooManyInScope, tooManyInResponse] = await Promise.all([
    newResponse(),
    newResponse(),
    newResponse(),
  ]);
  await startAll([fits, tooManyInScope, tooManyInResponse]);
  const explained = { name: 'append-round-batch' } as NonNullable<typeof explain>;
  explain = explained;
  // The first model calls are still running: each counts against its response's limit.
  const recorded = await Promise.all([
    steps.appendRound(toolRound(fits, 3), {
      ...budget,
      dispatchLimits: { perScope: 4, perResponse: 4 },
    }),
    steps.appendRound(toolRound(tooManyInScope, 3), {
      ...budget,
      dispatchLimits: { perScope: 2, perResponse: 10 },
    }),
    steps.appendRound(toolRound(tooManyInResponse, 3), {
      ...budget,
      dispatchLimits: { perScope: 10, perResponse: 3 },
    }),
  ]);
  expect(recorded.map((r) => r.type === 'recorded' && r.dispatched)).toEqual([true, false, false]);
  expect((await dispatchedAt(fits)).every((at) => at instanceof Date)).toBe(true);
  expect(await dispatchedAt(tooManyInScope)).toEqual([null, null, null]);
  expect(await dispatchedAt(tooManyInResponse)).toEqual([null, null, null]);
  // Each operation reads its response's steps twice: to see that its round is not recorded
  // already, and for the counts the limits are checked against, all three in one pass (they
  // once took three, one of them run twice over by the join that used it).
  const stepReads = planNodes(explained.plan!)
    .filter((node) => node['Relation Name'] === 'steps' && node['Node Type'] !== 'ModifyTable')
    .reduce((sum, node) => sum + node['Actual Loops'], 0);
  expect(stepReads).toBe(2 * recorded.length);
  // Without limits, nothing is recorded dispatched.
  const [plain] = await Promise.all([newResponse()]);
  await startAll([plain]);
  const result = await steps.appendRound(toolRound(plain, 2), budget);
  expect(result).toMatchObject({ type: 'recorded', dispatched: false });
});

interface ClaimRow {
  status: string;
  attempt: number;
  lease_owner: string | null;
  dispatched: boolean;
}

async function claimsOf(responseId: string): Promise<ClaimRow[]> {
  return withClient(database.url, async (client) => {
    const { rows } = await client.query<ClaimRow>(
      `SELECT status::text AS status, attempt, ${leaseOwnerOf('steps')} AS lease_owner,
              dispatched_at IS NOT NULL AS dispatched
         FROM steps WHERE response_id = $1 AND round = 1 ORDER BY index`,
      [responseId],
    );
    return rows;
  });
}

it('records siblings claimed by the deciding worker only when the whole round surely fits', async () => {
  const [fits, tooMany] = await Promise.all([newResponse(), newResponse()]);
  await startAll([fits, tooMany]);
  const siblings: InlineClaim = { owner: 'worker-test', leaseMs: 30_000, indexes: [0, 1] };
  // The first model calls still run: with them, 4 steps are in flight against a limit of 4,
  // and of 3.
  const [fitting, over] = await Promise.all([
    steps.appendRound(
      toolRound(fits, 3),
      { ...budget, dispatchLimits: { perScope: 4, perResponse: 4 } },
      siblings,
    ),
    steps.appendRound(
      toolRound(tooMany, 3),
      { ...budget, dispatchLimits: { perScope: 3, perResponse: 10 } },
      siblings,
    ),
  ]);

  expect(fitting).toMatchObject({ type: 'recorded', dispatched: true });
  const running = { status: 'running', attempt: 1, lease_owner: 'worker-test', dispatched: true };
  expect(await claimsOf(fits)).toEqual([
    running,
    running,
    { status: 'pending', attempt: 0, lease_owner: null, dispatched: true },
  ]);
  // Over the limits, nothing is claimed: every step waits for the dispatcher.
  expect(over).toMatchObject({ type: 'recorded', dispatched: false });
  const waiting = { status: 'pending', attempt: 0, lease_owner: null, dispatched: false };
  expect(await claimsOf(tooMany)).toEqual([waiting, waiting, waiting]);
  // A claimed sibling is taken by nobody else, and its outcome is fenced by its attempt 1.
  const [first] = (fitting as { steps: { id: string }[] }).steps;
  expect(await steps.claim(fits, first.id, 'worker-other', 30_000)).toBeNull();
  expect(
    await steps.finish(fits, first.id, 1, { status: 'completed', result: '{"ok":true}' }),
  ).toMatchObject({ recorded: true, roundComplete: false });

  // A claimed sibling its worker gives up unrun is pending again, as if never claimed: only
  // its owner can, at the attempt it claimed, and the next claim takes it at that attempt.
  const second = (fitting as { steps: { id: string }[] }).steps[1];
  expect(await steps.unclaim(fits, second.id, 1, 'worker-other')).toBe(false);
  expect(await steps.unclaim(fits, second.id, 2, 'worker-test')).toBe(false);
  expect(await steps.unclaim(fits, second.id, 1, 'worker-test')).toBe(true);
  expect((await claimsOf(fits))[1]).toEqual({
    status: 'pending',
    attempt: 0,
    lease_owner: null,
    dispatched: true,
  });
  expect(await steps.unclaim(fits, second.id, 1, 'worker-test')).toBe(false);
  expect(await steps.claim(fits, second.id, 'worker-other', 30_000)).toMatchObject({ attempt: 1 });
});

it('says with an outcome whether a step waits for the slot it frees, or that it cannot tell', async () => {
  const [held, free, nested] = await Promise.all([newResponse(), newResponse(), newResponse()]);
  const [a, b, c] = await startAll([held, free, nested]);
  const limits = (perScope: number): AppendBudget => ({
    ...budget,
    dispatchLimits: { perScope, perResponse: 10 },
  });
  const agentRound = {
    ...toolRound(nested, 2),
    steps: [
      { ...toolCall, index: 0, callId: 'call_0' },
      { kind: 'agent_call' as const, index: 1, callId: 'call_1', name: 'helper', arguments: '{}' },
    ],
  };
  // Each first model call leads to a round: `held` may run one call of its three at a time.
  await Promise.all([
    steps.finishAndAppend(
      [{ stepId: a, attempt: 1, outcome: completed(1) }],
      toolRound(held, 3),
      limits(1),
      null,
    ),
    steps.finishAndAppend(
      [{ stepId: b, attempt: 1, outcome: completed(1) }],
      toolRound(free, 3),
      limits(10),
      null,
    ),
    steps.finishAndAppend(
      [{ stepId: c, attempt: 1, outcome: completed(1) }],
      agentRound,
      limits(10),
      null,
    ),
  ]);
  const [first] = await steps.dispatch(held, { perScope: 1, perResponse: 10 });
  const roundOf = async (id: string) => {
    const rows = await withClient(database.url, (client) =>
      client.query<{ id: string; kind: string }>(
        `SELECT id, kind::text AS kind FROM steps WHERE response_id = $1 AND round = 1 ORDER BY index`,
        [id],
      ),
    );
    return rows.rows;
  };
  const [freeCall] = await roundOf(free);
  const [nestedCall] = await roundOf(nested);
  for (const [responseId, id] of [
    [held, first],
    [free, freeCall.id],
    [nested, nestedCall.id],
  ]) {
    expect(await steps.claim(responseId, id, 'worker-test', 30_000)).not.toBeNull();
  }

  const ok: StepOutcome = { status: 'completed', result: 'ok' };
  // The two calls held back wait for the slot; nothing waits in `free`. Both answers come
  // from the outcome's own statement.
  expect(await steps.finish(held, first, 1, ok)).toMatchObject({
    roundComplete: false,
    waiting: true,
  });
  expect(await steps.finish(free, freeCall.id, 1, ok)).toMatchObject({
    roundComplete: false,
    waiting: false,
  });
  // A tree with another scope going (the agent call's) cannot tell from that statement: a
  // round recorded there at this instant may be missing from its snapshot.
  expect(await steps.finish(nested, nestedCall.id, 1, ok)).toMatchObject({
    roundComplete: false,
    waiting: null,
  });
  expect(await steps.hasWaitingSteps(nested)).toBe(false);
});

it('claims and records siblings of many responses in batches, one round completion each', async () => {
  const ids = await Promise.all(Array.from({ length: RESPONSES }, () => newResponse()));
  const first = await startAll(ids);
  await Promise.all(
    ids.map((id, i) =>
      steps.finishAndAppend(
        [{ stepId: first[i], attempt: 1, outcome: completed(1) }],
        toolRound(id, 3),
        budget,
        null,
      ),
    ),
  );
  const siblings = await withClient(database.url, async (client) => {
    const { rows } = await client.query<{ id: string; response_id: string }>(
      `SELECT id, response_id FROM steps WHERE response_id = ANY($1::text[]) AND round = 1`,
      [ids],
    );
    return rows;
  });
  expect(siblings).toHaveLength(RESPONSES * 3);

  batchedStatements = [];
  const claims = await Promise.all(
    siblings.map((step) => steps.claim(step.response_id, step.id, 'worker-test', 30_000)),
  );
  expect(batchedStatements).toContain('claim-steps-batch');
  expect(claims.map((claimed) => claimed?.attempt)).toEqual(siblings.map(() => 1));
  expect(claims.every((claimed) => claimed?.deadlineAt instanceof Date)).toBe(true);
  expect(Object.keys(claims[0]?.step ?? {}).sort()).toEqual([
    'arguments',
    'callId',
    'error',
    'id',
    'index',
    'kind',
    'name',
    'result',
    'round',
    'status',
  ]);
  // Claimed already (its lease runs): a second claim gets nothing.
  expect(
    await steps.claim(siblings[0].response_id, siblings[0].id, 'worker-other', 30_000),
  ).toBeNull();

  batchedStatements = [];
  const explained = { name: 'finish-steps-batch' } as NonNullable<typeof explain>;
  explain = explained;
  const finished = await Promise.all(
    siblings.map((step) =>
      steps.finish(step.response_id, step.id, 1, { status: 'completed', result: 'ok' }),
    ),
  );
  // Siblings of one round share the statement, as the responses do: one round trip for all.
  expect(batchedStatements).toEqual(['finish-steps-batch']);
  // Each scope's outcomes are counted once for the whole batch: the planner, which takes the
  // batch for one operation, once counted them again for every operation (quadratic work).
  const windows = planNodes(explained.plan!).filter((node) => node['Node Type'] === 'WindowAgg');
  expect(windows.map((node) => [node['Actual Loops'], node['Actual Rows']])).toEqual([
    [1, siblings.length],
  ]);
  expect(finished.every((f) => f.recorded)).toBe(true);
  for (const id of ids) {
    const own = finished.filter((_, i) => siblings[i].response_id === id);
    // Of siblings finishing at once, exactly one completes the round, and its snapshot holds
    // every sibling's outcome, written by the same statement.
    expect(own.filter((f) => f.roundComplete)).toHaveLength(1);
    expect(own.filter((f) => !f.roundComplete).map((f) => f.snapshot)).toEqual([null, null]);
    const snapshot = own.find((f) => f.roundComplete)?.snapshot;
    expect(snapshot?.steps.filter((s) => s.round === 1).map((s) => [s.status, s.result])).toEqual([
      ['completed', 'ok'],
      ['completed', 'ok'],
      ['completed', 'ok'],
    ]);
  }
  const counters = await withClient(database.url, (client) =>
    client.query<{ open_steps: number }>(
      `SELECT open_steps FROM scopes WHERE response_id = ANY($1::text[])`,
      [ids],
    ),
  );
  expect(counters.rows.map((row) => row.open_steps)).toEqual(ids.map(() => 0));
  // A late outcome of an attempt that no longer owns its step is fenced out.
  expect(
    await steps.finish(siblings[0].response_id, siblings[0].id, 1, { status: 'failed' }),
  ).toEqual(expect.objectContaining({ recorded: false }));
  expect(await steps.hasWaitingSteps(ids[0])).toBe(false);
});

it('records a whole round of siblings with what follows it in one statement, all or none', async () => {
  const [whole, takenOver, ending] = await Promise.all([
    newResponse(),
    newResponse(),
    newResponse(),
  ]);
  const models = await startAll([whole, takenOver, ending]);
  const limits = { ...budget, dispatchLimits: { perScope: 10, perResponse: 10 } };
  const siblings: InlineClaim = { owner: 'worker-test', leaseMs: 30_000, indexes: [0, 1, 2] };
  // Each first model call finishes with a round of three tool calls, all claimed here.
  const rounds = await Promise.all(
    [whole, takenOver, ending].map((id, i) =>
      steps.finishAndAppend(
        [{ stepId: models[i], attempt: 1, outcome: completed(1) }],
        toolRound(id, 3),
        limits,
        siblings,
      ),
    ),
  );
  const ids = rounds.map(({ append }) => {
    if (append.type !== 'recorded') throw new Error('no round');
    expect(append.steps.map((step) => step.status)).toEqual(['running', 'running', 'running']);
    return append.steps.map((step) => step.id);
  });
  const outcomes = (stepIds: string[]) =>
    stepIds.map((stepId, i) => ({ stepId, attempt: 1, outcome: completed(10 + i) }));
  const modelRound = (responseId: string) => ({
    responseId,
    scopeId: topScopeId(responseId),
    round: 2,
    steps: [modelCall],
  });
  // Another worker took one sibling of the second response over.
  await withClient(database.url, (client) =>
    client.query(`UPDATE steps SET attempt = 2 WHERE id = $1`, [ids[1][1]]),
  );

  batchedStatements = [];
  const [done, refused] = await Promise.all([
    steps.finishAndAppend(outcomes(ids[0]), modelRound(whole), budget, claim),
    steps.finishAndAppend(outcomes(ids[1]), modelRound(takenOver), budget, claim),
  ]);
  expect(batchedStatements).toEqual(['finish-round-and-append-batch']);

  expect(done).toMatchObject({ recorded: true, append: { type: 'recorded' } });
  expect(await stepRows(whole)).toEqual([
    { round: 0, kind: 'model_call', status: 'completed' },
    { round: 1, kind: 'tool_call', status: 'completed' },
    { round: 1, kind: 'tool_call', status: 'completed' },
    { round: 1, kind: 'tool_call', status: 'completed' },
    { round: 2, kind: 'model_call', status: 'running' },
  ]);
  // All or none: the siblings still held are not written either, and nothing follows.
  expect(refused).toMatchObject({ recorded: false });
  expect(await stepRows(takenOver)).toEqual([
    { round: 0, kind: 'model_call', status: 'completed' },
    { round: 1, kind: 'tool_call', status: 'running' },
    { round: 1, kind: 'tool_call', status: 'running' },
    { round: 1, kind: 'tool_call', status: 'running' },
  ]);

  // The planner sees a steps table as a young deployment's: a few thousand finished steps,
  // few running ones, analyzed. Taking a round's outcomes for a hundred rows, it scanned
  // every running step rather than look up three by their key.
  const history = await newResponse();
  await withClient(database.url, async (client) => {
    await client.query(
      `INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, attempt)
       SELECT 'step_history' || g, $1, $2, g, 0, 'tool_call', 'completed', 1
         FROM generate_series(1, 2000) g`,
      [history, topScopeId(history)],
    );
    await client.query('ANALYZE steps');
  });
  // A top scope's last round and the response's end, with every sibling's usage summed.
  const explained = { name: 'finish-round-and-end' } as NonNullable<typeof explain>;
  explain = explained;
  const ended = await steps.finishAndEnd(outcomes(ids[2]), {
    responseId: ending,
    status: 'completed',
    output: [],
    error: null,
    incompleteDetails: null,
  });
  expect(ended.recorded).toBe(true);
  expect(ended.ended).toMatchObject({ status: 'completed', usage: usage(1 + 10 + 11 + 12) });
  // The siblings are found by their key, not by a scan of the steps table, which grows.
  const scanned = planNodes(explained.plan!).filter((node) => node['Node Type'] === 'Seq Scan');
  expect(scanned.map((node) => node['Relation Name'])).not.toContain('steps');
});
