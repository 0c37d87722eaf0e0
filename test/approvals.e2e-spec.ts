import type OpenAI from 'openai';
import { startFakeMcp, type FakeMcp } from './support/fake-mcp';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { startRatchet, type TestRatchet } from './support/ratchet';

// Human approvals end to end through the openai SDK: a call that needs approval is recorded
// and not run; once nothing else in the tree can progress the response ends its turn with
// mcp_approval_request items; a response answering them adopts the paused tree and goes on.

let fake: FakeMcp;
let locked: FakeMcp;
let tools: FakeTools;
const TOKEN = 'Bearer approvals-token-31337';
let ratchet: TestRatchet;
let client: OpenAI;

beforeAll(async () => {
  fake = await startFakeMcp();
  locked = await startFakeMcp({ requireHeaders: { authorization: TOKEN } });
  tools = await startFakeTools();
  ratchet = await startRatchet('approvals', {
    configYaml: `
models:
  mock: { provider: mock }
tools:
  guarded:
    type: mcp
    url: ${fake.url}
    approval: { never: [slow] }
  open_echo:
    type: http
    url: ${tools.url}/echo
  asked_echo:
    type: http
    url: ${tools.url}/echo
    approval: always
  helper:
    type: agent
    model: mock
    tools: [guarded, asked_echo]
  manager:
    type: agent
    model: mock
    tools: [helper]
  boss:
    type: agent
    model: mock
    tools: [open_echo]
    approval: always
mcp:
  allow: ['127.0.0.1']
approvals:
  expiresAfterMs: 3600000
`,
  });
  client = ratchet.client(await ratchet.newKey('approvals'));
});
afterAll(async () => {
  await ratchet?.close();
  await fake?.close();
  await locked?.close();
  await tools?.close();
});

const server = (name: string): OpenAI.Responses.FunctionTool => ({
  type: 'function',
  name,
  parameters: null,
  strict: null,
});
const callsOf = (...lines: [string, unknown][]): string =>
  lines.map(([name, args]) => `/call ${name} ${JSON.stringify(args)}`).join('\n');

type Output = OpenAI.Responses.ResponseOutputItem;
const ofType = <T extends Output['type']>(output: Output[], type: T) =>
  output.filter((item): item is Extract<Output, { type: T }> => item.type === type);

const echoed = (text: string): number =>
  fake.calls.filter((call) => call.name === 'echo' && call.arguments.text === text).length;
const httpEchoed = (marker: string): number =>
  tools.calls.filter((call) => JSON.stringify(call.body).includes(marker)).length;

it('pauses a top-level call that needs approval, runs its siblings, and asks for it', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: callsOf(
      ['guarded__echo', { text: 'top-asked' }],
      ['open_echo', { marker: 'top-sibling' }],
      ['guarded__slow', { ms: 1 }],
    ),
    tools: [server('guarded'), server('open_echo')],
  });
  expect(response.status).toBe('completed');
  const requests = ofType(response.output, 'mcp_approval_request');
  expect(requests).toHaveLength(1);
  expect(requests[0]).toMatchObject({
    type: 'mcp_approval_request',
    server_label: 'guarded',
    name: 'echo',
    arguments: JSON.stringify({ text: 'top-asked' }),
  });
  expect(requests[0].id).toMatch(/^mcpr_/);
  expect(echoed('top-asked')).toBe(0);
  expect(httpEchoed('top-sibling')).toBe(1);
  const calls = ofType(response.output, 'mcp_call');
  expect(calls.map((call) => [call.name, call.status])).toEqual([
    ['open_echo', 'completed'],
    ['slow', 'completed'],
  ]);
});

/** A manager whose helper calls the tools `calls` asks for: an agent tool two levels down. */
const nested = (...calls: [string, unknown][]): string =>
  callsOf(['manager', { input: callsOf(['helper', { input: callsOf(...calls) }]) }]);

it('pauses a call made at depth 2 and names the agents that led to it', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: nested(['guarded__echo', { text: 'deep-asked' }]),
    tools: [server('manager')],
  });
  expect(response.status).toBe('completed');
  const [request] = ofType(response.output, 'mcp_approval_request');
  expect(request).toMatchObject({ server_label: 'guarded', name: 'echo' });
  const path = (request as unknown as { agent_path: { name: string; call_id: string }[] })
    .agent_path;
  expect(path.map((entry) => entry.name)).toEqual(['manager', 'helper']);
  expect(path.every((entry) => entry.call_id.length > 0)).toBe(true);
  expect(echoed('deep-asked')).toBe(0);
  // The agent call waiting on it is not shown as finished in this turn.
  expect(ofType(response.output, 'mcp_call')).toEqual([]);

  const steps = (await (await ratchet.request(`/v1/responses/${response.id}/steps`)).json()) as {
    steps: { status: string; approval: { id: string } | null; depth: number }[];
  };
  const waiting = steps.steps.filter((step) => step.status === 'awaiting_approval');
  expect(waiting).toHaveLength(1);
  expect(waiting[0]).toMatchObject({ depth: 2, approval: { id: request.id } });
});

interface StepView {
  kind: string;
  status: string;
  depth: number;
  adopted_from: string | null;
  usage: { total_tokens: number } | null;
  approval: {
    id: string;
    expires_at: string;
    decision: { approve: boolean; decided_by: string | null; expired?: boolean } | null;
  } | null;
}

async function stepsOf(id: string): Promise<StepView[]> {
  const answer = await ratchet.request(`/v1/responses/${id}/steps`);
  return ((await answer.json()) as { steps: StepView[] }).steps;
}

const answer = (
  approval_request_id: string,
  approve: boolean,
  reason?: string,
): OpenAI.Responses.ResponseInputItem.McpApprovalResponse => ({
  type: 'mcp_approval_response',
  approval_request_id,
  approve,
  ...(reason ? { reason } : {}),
});

it('runs an approved top-level call in the response that answers, and goes on from there', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(['guarded__echo', { text: 'top-approved' }], ['open_echo', { m: 'ta-sib' }]),
    tools: [server('guarded'), server('open_echo')],
  });
  const [request] = ofType(paused.output, 'mcp_approval_request');
  const resumed = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [answer(request.id, true)],
    tools: [server('guarded'), server('open_echo')],
  });
  expect(resumed.status).toBe('completed');
  expect(echoed('top-approved')).toBe(1);
  expect(httpEchoed('ta-sib')).toBe(1);
  // Only what is new: the approved call, then the model's answer (the sibling was shown).
  expect(resumed.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  const [call] = ofType(resumed.output, 'mcp_call');
  expect([call.name, call.server_label, call.output, call.error]).toEqual([
    'echo',
    'guarded',
    'top-approved',
    null,
  ]);
  // Its usage is its own model calls': the adopted steps' usage stays with the paused one.
  const steps = await stepsOf(resumed.id);
  const own = steps.filter((step) => step.adopted_from === null);
  expect(own.map((step) => step.kind)).toEqual(['model_call']);
  expect(resumed.usage?.total_tokens).toBe(own[0].usage?.total_tokens);
  expect(resumed.usage?.total_tokens).toBeGreaterThan(0);
  // Its input items read as sent, though its top scope took the paused tree's input.
  const items = await client.responses.inputItems.list(resumed.id);
  expect(items.data).toEqual([
    expect.objectContaining({
      type: 'mcp_approval_response',
      approval_request_id: request.id,
      approve: true,
    }),
  ]);

  // A later turn reads the whole conversation: the call and its output, as the model made it.
  const later = await client.responses.create({
    model: 'mock',
    previous_response_id: resumed.id,
    input: 'What came back?',
  });
  expect(later.status).toBe('completed');
  expect(later.output_text).toContain('What came back?');
});

it('gives a denied call a refusal its model reads, with the reason', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(['guarded__echo', { text: 'top-denied' }]),
    tools: [server('guarded')],
  });
  const [request] = ofType(paused.output, 'mcp_approval_request');
  const resumed = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [answer(request.id, false, 'not today')],
  });
  expect(resumed.status).toBe('completed');
  expect(echoed('top-denied')).toBe(0);
  const [call] = ofType(resumed.output, 'mcp_call');
  expect(call.status).toBe('failed');
  expect(call.error).toBe('approval_denied: The call was not run: the user denied it: not today');
  expect(resumed.output_text).toContain('approval_denied');
});

it('approves a call at depth 2: the sub-agent that asked carries on, and so do its parents', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: nested(['guarded__echo', { text: 'deep-approved' }]),
    tools: [server('manager')],
  });
  const [request] = ofType(paused.output, 'mcp_approval_request');
  const resumed = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [answer(request.id, true)],
  });
  expect(resumed.status).toBe('completed');
  expect(echoed('deep-approved')).toBe(1);
  const [manager] = ofType(resumed.output, 'mcp_call');
  expect([manager.name, manager.server_label, manager.status]).toEqual([
    'manager',
    'agent',
    'completed',
  ]);
  expect(manager.output).toContain('deep-approved');

  const steps = (await (await ratchet.request(`/v1/responses/${resumed.id}/steps`)).json()) as {
    steps: {
      status: string;
      depth: number;
      adopted_from: string | null;
      approval: { id: string; decision: { approve: boolean; decided_by: string } } | null;
    }[];
  };
  const decided = steps.steps.filter((step) => step.approval !== null);
  expect(decided).toHaveLength(1);
  expect(decided[0]).toMatchObject({
    status: 'completed',
    depth: 2,
    approval: { id: request.id, decision: { approve: true } },
  });
  expect(decided[0].approval?.decision.decided_by).toMatch(/^key_/);
  expect(decided[0].adopted_from).toMatch(/^step_/);
});

async function refusalOf(body: unknown, key?: string) {
  const response = await ratchet.request('/v1/responses', {
    method: 'POST',
    body: JSON.stringify(body),
    ...(key ? { key } : {}),
  });
  const json = (await response.json()) as { error: { param: string | null; code: string | null } };
  return { status: response.status, error: json.error };
}

it('answers several pending requests one by one: the unanswered ones are asked again', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(
      ['guarded__echo', { text: 'one-by-one-1' }],
      ['asked_echo', { marker: 'one-by-one-2' }],
      ['guarded__echo', { text: 'one-by-one-3' }],
    ),
    tools: [server('guarded'), server('asked_echo')],
  });
  const requests = ofType(paused.output, 'mcp_approval_request');
  expect(requests.map((request) => [request.server_label, request.name])).toEqual([
    ['guarded', 'echo'],
    ['http', 'asked_echo'],
    ['guarded', 'echo'],
  ]);
  expect(httpEchoed('one-by-one-2')).toBe(0);

  const second = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [answer(requests[0].id, true)],
  });
  expect(second.status).toBe('completed');
  expect(echoed('one-by-one-1')).toBe(1);
  expect(ofType(second.output, 'mcp_approval_request').map((request) => request.id)).toEqual([
    requests[1].id,
    requests[2].id,
  ]);
  // Each turn shows what it did: the call that ran here is shown here, and only here.
  expect(ofType(second.output, 'mcp_call').map((call) => [call.output, call.status])).toEqual([
    ['one-by-one-1', 'completed'],
  ]);

  // Repeating the earlier decision is harmless; the other two are decided together.
  const third = await client.responses.create({
    model: 'mock',
    previous_response_id: second.id,
    input: [
      answer(requests[0].id, true),
      answer(requests[1].id, true),
      answer(requests[2].id, false),
    ],
  });
  expect(third.status).toBe('completed');
  expect(echoed('one-by-one-1')).toBe(1);
  expect(httpEchoed('one-by-one-2')).toBe(1);
  expect(echoed('one-by-one-3')).toBe(0);
  expect(ofType(third.output, 'mcp_call').map((call) => [call.name, call.status])).toEqual([
    ['asked_echo', 'completed'],
    ['echo', 'failed'],
  ]);
  expect(ofType(third.output, 'mcp_approval_request')).toEqual([]);
  expect(third.output.at(-1)?.type).toBe('message');

  const steps = await stepsOf(third.id);
  const decisions = steps.filter((step) => step.approval).map((step) => step.approval!.decision);
  expect(decisions.map((decision) => decision?.approve)).toEqual([true, true, false]);
});

it('refuses answers it cannot take, naming the field, and never runs a call twice', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(['guarded__echo', { text: 'refusals' }]),
    tools: [server('guarded')],
  });
  const [request] = ofType(paused.output, 'mcp_approval_request');
  const base = { model: 'mock', previous_response_id: paused.id };

  const unknown = await refusalOf({ ...base, input: [answer('mcpr_nope', true)] });
  expect(unknown).toMatchObject({
    status: 400,
    error: { param: 'input[0].approval_request_id', code: 'approval_request_not_found' },
  });
  const alone = await refusalOf({ model: 'mock', input: [answer(request.id, true)] });
  expect(alone).toMatchObject({ status: 400, error: { param: 'input[0]' } });
  const mixed = await refusalOf({
    ...base,
    input: ['hello', answer(request.id, true)].map((x) =>
      typeof x === 'string' ? { role: 'user', content: x } : x,
    ),
  });
  expect(mixed).toMatchObject({ status: 400, error: { param: 'input[0]' } });
  const bad = await refusalOf({
    ...base,
    input: [{ type: 'mcp_approval_response', approve: true }],
  });
  expect(bad.status).toBe(400);
  expect(bad.error.param).toMatch(/^input\[0\]/);
  // Another tenant's response is not there at all.
  const stranger = await refusalOf(
    { ...base, input: [answer(request.id, true)] },
    await ratchet.newKey('stranger'),
  );
  expect(stranger).toMatchObject({ status: 404, error: { param: 'previous_response_id' } });

  const approved = await client.responses.create({ ...base, input: [answer(request.id, true)] });
  expect(approved.status).toBe('completed');
  const again = await refusalOf({ ...base, input: [answer(request.id, true)] });
  expect(again).toMatchObject({
    status: 400,
    error: { param: 'previous_response_id', code: 'approval_already_decided' },
  });
  expect(echoed('refusals')).toBe(1);
});

it('asks about configured http and agent tools whose approval is always, not the others', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(
      ['asked_echo', { marker: 'cfg-asked' }],
      ['open_echo', { marker: 'cfg-open' }],
      ['boss', { input: callsOf(['open_echo', { marker: 'cfg-boss' }]) }],
    ),
    tools: [server('asked_echo'), server('open_echo'), server('boss')],
  });
  expect(httpEchoed('cfg-open')).toBe(1);
  expect(httpEchoed('cfg-asked')).toBe(0);
  expect(httpEchoed('cfg-boss')).toBe(0);
  const requests = ofType(paused.output, 'mcp_approval_request');
  expect(requests.map((request) => [request.server_label, request.name])).toEqual([
    ['http', 'asked_echo'],
    ['agent', 'boss'],
  ]);
  // The agent waits before its sub-agent starts: no step of depth 1 yet.
  expect((await stepsOf(paused.id)).filter((step) => step.depth > 0)).toEqual([]);

  const resumed = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [answer(requests[0].id, false), answer(requests[1].id, true)],
  });
  expect(resumed.status).toBe('completed');
  expect(httpEchoed('cfg-asked')).toBe(0);
  expect(httpEchoed('cfg-boss')).toBe(1);
  expect(ofType(resumed.output, 'mcp_call').map((call) => [call.name, call.status])).toEqual([
    ['asked_echo', 'failed'],
    ['boss', 'completed'],
  ]);
});

it('streams the requests as output items, and the continuation as a response of its own', async () => {
  const stream = await client.responses.create({
    model: 'mock',
    input: callsOf(['guarded__echo', { text: 'streamed-asked' }]),
    tools: [server('guarded')],
    stream: true,
  });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  const done = events.filter((event) => event.type === 'response.output_item.done');
  const requestDone = done.find((event) => event.item.type === 'mcp_approval_request');
  expect(requestDone).toBeDefined();
  const added = events.find(
    (event) =>
      event.type === 'response.output_item.added' && event.item.type === 'mcp_approval_request',
  );
  expect(added).toBeDefined();
  const completed = events.at(-1);
  expect(completed?.type).toBe('response.completed');
  if (completed?.type !== 'response.completed' || requestDone?.type !== 'response.output_item.done')
    return;
  expect(completed.response.output.at(-1)).toEqual(requestDone.item);
  const requestId = requestDone.item.id ?? '';
  expect(requestId).toMatch(/^mcpr_/);

  const resumed = await client.responses.create({
    model: 'mock',
    previous_response_id: completed.response.id,
    input: [answer(requestId, true)],
    stream: true,
  });
  const after: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of resumed) after.push(event);
  expect(after.map((event) => event.type).slice(0, 2)).toEqual([
    'response.created',
    'response.in_progress',
  ]);
  const end = after.at(-1);
  expect(end?.type).toBe('response.completed');
  if (end?.type !== 'response.completed') return;
  const streamedDone = after
    .filter((event) => event.type === 'response.output_item.done')
    .map((event) => (event.type === 'response.output_item.done' ? event.item : null));
  expect(streamedDone).toEqual(end.response.output);
  expect(end.response.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  expect(echoed('streamed-asked')).toBe(1);
});

it('asks about a request MCP server’s calls by its require_approval filter; its sealed headers reach it after', async () => {
  const remote = {
    type: 'mcp' as const,
    server_label: 'remote',
    server_url: locked.url,
    headers: { Authorization: TOKEN },
    require_approval: { never: { tool_names: ['add'] } },
  };
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(['remote__echo', { text: 'remote-asked' }], ['remote__add', { a: 2, b: 3 }]),
    tools: [remote],
  });
  expect(paused.status).toBe('completed');
  const [request] = ofType(paused.output, 'mcp_approval_request');
  expect([request.server_label, request.name]).toEqual(['remote', 'echo']);
  expect(locked.calls.filter((one) => one.name === 'add')).toHaveLength(1);
  expect(JSON.stringify(paused)).not.toContain('approvals-token');
  expect(paused.tools).toEqual([
    expect.objectContaining({
      type: 'mcp',
      require_approval: { never: { tool_names: ['add'] } },
    }),
  ]);

  // The answer need not send the server again: the paused tree's own server, headers and all.
  const resumed = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [answer(request.id, true)],
  });
  expect(resumed.status).toBe('completed');
  const [call] = ofType(resumed.output, 'mcp_call');
  expect([call.name, call.output, call.error]).toEqual(['echo', 'remote-asked', null]);
  expect(locked.calls.filter((one) => one.arguments.text === 'remote-asked')).toHaveLength(1);
});

it('a continuation without answers leaves the tree paused and the model reads on without it', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(['guarded__echo', { text: 'left-waiting' }]),
    tools: [server('guarded')],
  });
  const [request] = ofType(paused.output, 'mcp_approval_request');
  const next = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: 'Never mind that.',
  });
  expect(next.status).toBe('completed');
  expect(next.output_text).toBe('You said: Never mind that.');
  expect(echoed('left-waiting')).toBe(0);
  // The paused tree was not adopted: it can still be answered.
  const answered = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [answer(request.id, true)],
  });
  expect(answered.status).toBe('completed');
  expect(echoed('left-waiting')).toBe(1);

  const conversation = await client.conversations.create({});
  const inConversation = await refusalOf({
    model: 'mock',
    previous_response_id: paused.id,
    conversation: conversation.id,
    input: [answer(request.id, true)],
  });
  expect(inConversation.status).toBe(400);
});

it('answers requests in a conversation: its last response’s paused tree goes on there', async () => {
  const conversation = await client.conversations.create({});
  const empty = await refusalOf({
    model: 'mock',
    conversation: conversation.id,
    input: [answer('mcpr_none', true)],
  });
  expect(empty).toMatchObject({
    status: 400,
    error: { param: 'input[0].approval_request_id', code: 'approval_request_not_found' },
  });
  const paused = await client.responses.create({
    model: 'mock',
    conversation: conversation.id,
    input: callsOf(['guarded__echo', { text: 'in-conversation' }]),
    tools: [server('guarded')],
  });
  const [request] = ofType(paused.output, 'mcp_approval_request');
  const approved = await client.responses.create({
    model: 'mock',
    conversation: conversation.id,
    input: [answer(request.id, true)],
    tools: [server('guarded')],
  });
  expect(approved.status).toBe('completed');
  expect(echoed('in-conversation')).toBe(1);
  expect(approved.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  // The conversation holds the turn in order: the request, its answer, the call, the reply.
  const items = await client.conversations.items.list(conversation.id, { order: 'asc' });
  const types = items.data.map((item) => item.type);
  expect(types.slice(types.indexOf('mcp_approval_request'))).toEqual([
    'mcp_approval_request',
    'mcp_approval_response',
    'mcp_call',
    'message',
  ]);
  // The conversation goes on from there, and the answer cannot be given twice.
  const again = await refusalOf({
    model: 'mock',
    conversation: conversation.id,
    input: [answer(request.id, false)],
  });
  expect(again).toMatchObject({ status: 400, error: { code: 'approval_already_decided' } });
  const later = await client.responses.create({
    model: 'mock',
    conversation: conversation.id,
    input: 'What came back?',
  });
  expect(later.output_text).toContain('What came back?');
  expect(echoed('in-conversation')).toBe(1);
  // Another tenant cannot answer in it.
  const stranger = await refusalOf(
    { model: 'mock', conversation: conversation.id, input: [answer(request.id, true)] },
    await ratchet.newKey('stranger'),
  );
  expect(stranger).toMatchObject({ status: 404, error: { param: 'conversation' } });
});
