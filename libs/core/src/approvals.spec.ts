import {
  approvalAnswers,
  approvalRequestId,
  decideApprovals,
  type ApprovalAnswer,
  type ApprovalCandidate,
  callNeedsApproval,
  needsApproval,
  pausedOutput,
  refusalOf,
  type ApprovalPolicy,
} from './approvals';
import type { FunctionCallItem, Item } from './items';
import { modelItems, type CallRouting } from './server-calls';
import type { StepRecord, StepStatus } from './steps';
import { groupRounds, scopeOutput, transition, type ScopeState } from './transition';

function call(callId: string, name: string, args = '{}'): FunctionCallItem {
  return {
    type: 'function_call',
    id: `fc_${callId}`,
    call_id: callId,
    name,
    arguments: args,
    status: 'completed',
  };
}

function modelStep(round: number, calls: FunctionCallItem[]): StepRecord {
  return {
    id: `step_model_${round}`,
    round,
    index: 0,
    kind: 'model_call',
    status: 'completed',
    callId: null,
    name: null,
    arguments: null,
    result: { output: calls, finishReason: calls.length > 0 ? 'tool_calls' : 'stop' },
    error: null,
  };
}

function toolStep(
  round: number,
  index: number,
  c: FunctionCallItem,
  status: StepStatus,
): StepRecord {
  return {
    id: `step_tool_${round}_${index}`,
    round,
    index,
    kind: c.name === 'boss' ? 'agent_call' : 'tool_call',
    status,
    callId: c.call_id,
    name: c.name,
    arguments: c.arguments,
    result: status === 'completed' ? 'done' : null,
    error: null,
  };
}

const ROUTING: CallRouting = {
  serverTools: { asked: 'http', free: 'http', boss: 'agent' },
  clientTools: true,
  mcp: { labels: ['gh'], tools: {} },
  approvals: { asked: 'always', boss: 'always', gh: { always: null, never: ['search'] } },
};

function state(steps: StepRecord[], routing: CallRouting = ROUTING): ScopeState {
  return {
    ...routing,
    steps,
    maxIterations: 10,
    budget: { steps: 100, toolCalls: null, expired: false },
  };
}

describe('approval policies', () => {
  it.each<[ApprovalPolicy | undefined, string, boolean]>([
    [undefined, 'x', false],
    ['never', 'x', false],
    ['always', 'x', true],
    [{ always: ['x'], never: null }, 'x', true],
    [{ always: null, never: ['x'] }, 'x', false],
    [{ always: null, never: ['x'] }, 'y', true],
    [{ always: ['x'], never: ['y'] }, 'z', true],
  ])('%j asks about %s: %s', (policy, tool, expected) => {
    expect(needsApproval(policy, tool)).toBe(expected);
  });

  it('routes a call to its configured tool’s or MCP server’s policy, by the tool’s own name', () => {
    expect(callNeedsApproval(ROUTING, 'asked')).toBe(true);
    expect(callNeedsApproval(ROUTING, 'free')).toBe(false);
    expect(callNeedsApproval(ROUTING, 'gh__search')).toBe(false);
    expect(callNeedsApproval(ROUTING, 'gh__delete_repo')).toBe(true);
    expect(callNeedsApproval({ ...ROUTING, approvals: undefined }, 'asked')).toBe(false);
  });
});

describe('the transition with approvals', () => {
  const calls = [
    call('c0', 'asked', '{"a":1}'),
    call('c1', 'free'),
    call('c2', 'gh__delete_repo'),
    call('c3', 'boss'),
  ];

  it('records the calls that need approval as waiting for it, with what their request shows', () => {
    const decision = transition(state([modelStep(0, calls)]));
    expect(decision.type).toBe('append');
    if (decision.type !== 'append') return;
    expect(decision.steps.map((step) => step.awaitingApproval ?? null)).toEqual([
      { server_label: 'http', name: 'asked' },
      null,
      { server_label: 'gh', name: 'delete_repo' },
      { server_label: 'agent', name: 'boss' },
    ]);
    expect(decision.steps[3].kind).toBe('agent_call');
  });

  it('a refusal wins over an approval: a call over max_tool_calls is refused, not asked about', () => {
    const over = { ...state([modelStep(0, [call('c0', 'asked')])]) };
    over.budget = { ...over.budget, toolCalls: 0 };
    const decision = transition(over);
    if (decision.type !== 'append') throw new Error(decision.type);
    expect(decision.steps[0].refused?.code).toBe('max_tool_calls');
    expect(decision.steps[0].awaitingApproval).toBeUndefined();
  });

  it('waits while a call of the round waits for approval, even when its siblings ended', () => {
    const steps = [
      modelStep(0, calls.slice(0, 2)),
      toolStep(1, 0, calls[0], 'awaiting_approval'),
      toolStep(1, 1, calls[1], 'completed'),
    ];
    expect(transition(state(steps))).toEqual({ type: 'wait' });
  });

  it('a paused scope’s output leaves the waiting calls out; the turn adds their requests', () => {
    const steps = [
      modelStep(0, calls.slice(0, 2)),
      toolStep(1, 0, calls[0], 'awaiting_approval'),
      toolStep(1, 1, calls[1], 'completed'),
    ];
    const top = scopeOutput(groupRounds(steps), ROUTING, { paused: true });
    expect(top.map((item) => [item.type, 'name' in item ? item.name : null])).toEqual([
      ['mcp_call', 'free'],
    ]);
    const output = pausedOutput(top, [
      {
        approval: {
          id: approvalRequestId('step_tool_1_0'),
          server_label: 'http',
          name: 'asked',
          requested_at: '2026-12-03T00:00:00.000Z',
          expires_at: '2026-12-04T00:00:00.000Z',
          decision: null,
        },
        arguments: '{"a":1}',
        agentPath: [{ name: 'boss', call_id: 'call_9' }],
      },
    ]);
    expect(output[1]).toEqual({
      type: 'mcp_approval_request',
      id: 'mcpr_tool_1_0',
      server_label: 'http',
      name: 'asked',
      arguments: '{"a":1}',
      agent_path: [{ name: 'boss', call_id: 'call_9' }],
    });
  });

  it('an adopted scope leaves out what it showed in earlier responses', () => {
    const steps = [
      modelStep(0, calls.slice(0, 2)),
      toolStep(1, 0, calls[0], 'completed'),
      toolStep(1, 1, calls[1], 'completed'),
    ];
    const all = scopeOutput(groupRounds(steps), ROUTING);
    const shown = [all[1].id];
    const later = scopeOutput(groupRounds(steps), { ...ROUTING, shown });
    expect(later.map((item) => item.id)).toEqual([all[0].id]);
  });
});

describe('approval items in a conversation', () => {
  it('never reach the model: requests and answers are between ratchet and the client', () => {
    const items: Item[] = [
      {
        type: 'mcp_approval_request',
        id: 'mcpr_1',
        server_label: 'gh',
        name: 'delete_repo',
        arguments: '{}',
      },
      {
        type: 'mcp_approval_response',
        id: 'mcpr_r1',
        approval_request_id: 'mcpr_1',
        approve: true,
        reason: null,
      },
    ];
    expect(modelItems(items)).toEqual([]);
    expect(approvalAnswers(items)).toEqual([
      { approvalRequestId: 'mcpr_1', approve: true, reason: null, inputIndex: 1 },
    ]);
  });

  it('tells the model why a call did not run', () => {
    const base = { decided_by: 'key_1', decided_at: 'now', response_id: 'resp_1' };
    expect(refusalOf({ ...base, approve: false, reason: 'too risky' })).toEqual({
      code: 'approval_denied',
      message: 'The call was not run: the user denied it: too risky',
    });
    expect(refusalOf({ ...base, approve: false, reason: null, expired: true }).code).toBe(
      'approval_expired',
    );
  });
});

describe('deciding a paused tree’s calls from a request’s answers', () => {
  const now = new Date('2026-12-03T12:00:00.000Z');
  const by = { keyId: 'key_1', responseId: 'resp_2', now };
  const waiting = (id: string, expiresAt = '2026-12-04T00:00:00.000Z'): ApprovalCandidate => ({
    stepId: `step_${id}`,
    status: 'awaiting_approval',
    approval: {
      id: `mcpr_${id}`,
      server_label: 'gh',
      name: 'delete_repo',
      requested_at: '2026-12-03T00:00:00.000Z',
      expires_at: expiresAt,
      decision: null,
    },
  });
  const said = (id: string, approve: boolean, inputIndex = 0): ApprovalAnswer => ({
    approvalRequestId: `mcpr_${id}`,
    approve,
    reason: approve ? null : 'no',
    inputIndex,
  });

  it('approves and denies what is answered, and leaves the rest waiting', () => {
    const checked = decideApprovals(
      [said('a', true), said('b', false, 1)],
      [waiting('a'), waiting('b'), waiting('c')],
      by,
    );
    if (checked.type !== 'decided') throw new Error(checked.type);
    expect(
      checked.calls.map((call) => [call.stepId, call.status, call.error?.code ?? null]),
    ).toEqual([
      ['step_a', 'pending', null],
      ['step_b', 'failed', 'approval_denied'],
    ]);
    expect(checked.calls[0].approval.decision).toEqual({
      approve: true,
      reason: null,
      decided_by: 'key_1',
      decided_at: now.toISOString(),
      response_id: 'resp_2',
    });
  });

  it('names an unknown id, and a decision that contradicts an earlier one', () => {
    expect(decideApprovals([said('x', true, 3)], [waiting('a')], by)).toMatchObject({
      type: 'unknown',
      answer: { inputIndex: 3 },
    });
    const decided = waiting('a');
    decided.status = 'completed';
    decided.approval.decision = {
      ...by,
      approve: true,
      reason: null,
      decided_by: 'key_1',
      decided_at: 'then',
      response_id: 'resp_1',
    };
    expect(decideApprovals([said('a', false)], [decided], by).type).toBe('conflict');
    // The same decision again is taken as it was: nothing new to record.
    expect(decideApprovals([said('a', true)], [decided], by)).toEqual({
      type: 'decided',
      calls: [],
    });
    expect(decideApprovals([said('a', true), said('a', false)], [waiting('a')], by).type).toBe(
      'conflict',
    );
  });

  it('refuses a call whose request expired, answered or not', () => {
    const checked = decideApprovals(
      [said('a', true)],
      [waiting('a', '2026-12-03T11:00:00.000Z'), waiting('b', '2026-12-03T11:59:59.000Z')],
      by,
    );
    if (checked.type !== 'decided') throw new Error(checked.type);
    expect(checked.calls.map((call) => [call.stepId, call.error?.code])).toEqual([
      ['step_a', 'approval_expired'],
      ['step_b', 'approval_expired'],
    ]);
    expect(checked.calls[0].approval.decision).toMatchObject({ decided_by: null, expired: true });
  });
});
