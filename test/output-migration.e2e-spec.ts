import {
  groupRounds,
  scopeOutput,
  stepOutputText,
  type FunctionCallItem,
  type Item,
  type ModelItem,
  type ServerToolKind,
  type StepRecord,
} from '@ratchet/core';
import { Client } from 'pg';
import { insertTopScope, migratedUpTo, type BeforeMigration } from './support/migrations';

// Responses stored before server calls became mcp_call items held each such call as the
// model's function_call plus a function_call_output. The migration must turn those outputs
// into exactly what the engine produces today from the same recorded steps.

const MIGRATION = '20261203090000_server_calls_as_mcp_call';
const SERVER_TOOLS: Record<string, ServerToolKind> = {
  echo: 'http',
  helper: 'agent',
  hang: 'http',
};

let before: BeforeMigration;
let db: Client;

beforeAll(async () => {
  before = await migratedUpTo('output_migration', MIGRATION);
  db = new Client({ connectionString: before.database.url });
  await db.connect();
  await db.query(
    `INSERT INTO api_keys (id, name, key_hash, prefix) VALUES ('key_1', 't', 'h', 'p')`,
  );
});

afterAll(async () => {
  await db?.end();
  await before?.close();
});

function call(n: number, name: string, args = '{}'): FunctionCallItem {
  return {
    type: 'function_call',
    id: `fc_${n}`,
    call_id: `call_${n}`,
    name,
    arguments: args,
    status: 'completed',
  };
}

const say = (id: string, text: string): ModelItem => ({
  type: 'message',
  id,
  role: 'assistant',
  status: 'completed',
  content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
});

let stepNumber = 0;

function modelStep(round: number, output: ModelItem[]): StepRecord {
  return {
    id: `step_${(stepNumber++).toString(16).padStart(4, '0')}${'ab'.repeat(22)}`,
    round,
    index: 0,
    kind: 'model_call',
    status: 'completed',
    callId: null,
    name: null,
    arguments: null,
    result: { output, finishReason: 'tool_calls' },
    error: null,
  };
}

function toolStep(
  round: number,
  index: number,
  fc: FunctionCallItem,
  outcome: Pick<StepRecord, 'status' | 'result' | 'error'>,
): StepRecord {
  return {
    id: `step_${(stepNumber++).toString(16).padStart(4, '0')}${'cd'.repeat(22)}`,
    round,
    index,
    kind: SERVER_TOOLS[fc.name] === 'agent' ? 'agent_call' : 'tool_call',
    callId: fc.call_id,
    name: fc.name,
    arguments: fc.arguments,
    ...outcome,
  };
}

/** The output a response stored before: model outputs, then an output per finished tool step. */
function oldOutput(
  steps: StepRecord[],
  finished = (step: StepRecord) => step.status !== 'running',
): Item[] {
  const items: Item[] = [];
  for (const round of groupRounds(steps)) {
    for (const step of round) {
      if (step.kind === 'model_call') {
        items.push(...((step.result as { output: ModelItem[] }).output ?? []));
      } else if (finished(step)) {
        items.push({
          type: 'function_call_output',
          id: `fco_${step.id.slice(5)}`,
          call_id: step.callId!,
          output: stepOutputText(step),
          status: 'completed',
        });
      }
    }
  }
  return items;
}

async function store(id: string, steps: StepRecord[], output: Item[]): Promise<void> {
  await db.query(
    `INSERT INTO responses (id, owner_id, model, request, status, output)
     VALUES ($1, 'key_1', 'mock', '{"model":"mock"}', 'completed', $2)`,
    [id, JSON.stringify(output)],
  );
  const scope = `scope_${id.slice(5)}`;
  await insertTopScope(db, id, { definitions: [], server: SERVER_TOOLS });
  for (const step of steps) {
    await db.query(
      `INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, call_id, name,
                          arguments, result, error)
       VALUES ($1, $2, $3, $4, $5, $6::step_kind, $7::step_status, $8, $9, $10, $11, $12)`,
      [
        step.id,
        id,
        scope,
        step.round,
        step.index,
        step.kind,
        step.status,
        step.callId,
        step.name,
        step.arguments,
        step.result === null ? null : JSON.stringify(step.result),
        step.error === null ? null : JSON.stringify(step.error),
      ],
    );
  }
}

const todays = (steps: StepRecord[]): Item[] =>
  scopeOutput(groupRounds(steps), { serverTools: SERVER_TOOLS, clientTools: true });

it('rewrites stored outputs into the mcp_call items the engine makes today', async () => {
  // Parallel calls of every outcome beside a client call, then a second turn with one call.
  const [echo, helper, client, failing, hang] = [
    call(1, 'echo', '{"a":1}'),
    call(2, 'helper', '{"input":"x"}'),
    call(3, 'ask_user'),
    call(4, 'echo', '{"b":2}'),
    call(5, 'hang'),
  ];
  const parallel = [
    modelStep(0, [say('msg_1', 'Checking.'), echo, helper, client, failing]),
    toolStep(1, 0, echo, { status: 'completed', result: '{"a":1}', error: null }),
    toolStep(1, 1, helper, { status: 'completed', result: 'Found it.', error: null }),
    toolStep(1, 2, failing, {
      status: 'failed',
      result: null,
      error: { code: 'tool_http_error', message: 'The tool answered 500.' },
    }),
  ];
  await store('resp_parallel', parallel, oldOutput(parallel));

  const sequential = [
    modelStep(0, [echo]),
    toolStep(1, 0, echo, { status: 'completed', result: '1', error: null }),
    modelStep(2, [failing]),
    toolStep(3, 0, failing, { status: 'completed', result: '2', error: null }),
    modelStep(4, [say('msg_2', 'Done.')]),
  ];
  await store('resp_sequential', sequential, oldOutput(sequential));

  // Cancelled while a call ran (the stored output has no answer for it), and one never run.
  const cancelled = [
    modelStep(0, [hang]),
    toolStep(1, 0, hang, { status: 'cancelled', result: null, error: null }),
  ];
  await store('resp_cancelled', cancelled, [hang]);
  const cut = [modelStep(0, [say('msg_3', 'Let me.'), echo])];
  await store('resp_cut', cut, oldOutput(cut));

  // A response with only client calls and text is left as it is.
  const clientOnly = [modelStep(0, [say('msg_4', 'Over to you.'), client])];
  await store('resp_client', clientOnly, oldOutput(clientOnly));

  expect(await before.apply()).toEqual([MIGRATION]);

  const stored = async (id: string): Promise<unknown> =>
    (await db.query<{ output: unknown }>(`SELECT output FROM responses WHERE id = $1`, [id]))
      .rows[0].output;
  expect(await stored('resp_parallel')).toEqual(todays(parallel));
  expect(await stored('resp_sequential')).toEqual(todays(sequential));
  expect(await stored('resp_cancelled')).toEqual(todays(cancelled));
  expect(await stored('resp_cut')).toEqual(todays(cut));
  expect(await stored('resp_client')).toEqual(oldOutput(clientOnly));
  // Spot-check the shapes the comparison stands on.
  expect(await stored('resp_parallel')).toMatchObject([
    { type: 'message' },
    { type: 'mcp_call', server_label: 'http', output: '{"a":1}', status: 'completed' },
    { type: 'mcp_call', server_label: 'agent', output: 'Found it.' },
    { type: 'function_call', name: 'ask_user' },
    { type: 'mcp_call', status: 'failed', error: 'tool_http_error: The tool answered 500.' },
  ]);
  expect(await stored('resp_cut')).toMatchObject([
    { type: 'message' },
    {
      type: 'mcp_call',
      status: 'incomplete',
      error: expect.stringMatching(/^not_run: /) as unknown,
    },
  ]);
});
