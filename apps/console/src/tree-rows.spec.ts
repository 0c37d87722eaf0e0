import type { ScopeDetail, StepDetail } from './api';
import { treeRows } from './tree-rows';

const AT = '2026-12-03T15:00:00.000Z';

function scope(id: string, parent: string | null, depth: number): ScopeDetail {
  return {
    id,
    parent_step_id: parent,
    depth,
    model: 'mock',
    instructions: null,
    input: [],
    status: 'running',
    created_at: AT,
    completed_at: null,
  };
}

function step(
  id: string,
  scopeId: string,
  round: number,
  index: number,
  kind: StepDetail['kind'],
): StepDetail {
  return {
    id,
    scope_id: scopeId,
    round,
    index,
    kind,
    status: 'completed',
    name: kind === 'model_call' ? null : id,
    call_id: null,
    arguments: null,
    result: null,
    error: null,
    usage: null,
    backoff: null,
    attempt: 1,
    executed_by: 'w1',
    lease_owner: null,
    lease_expires_at: null,
    created_at: AT,
    dispatched_at: AT,
    started_at: AT,
    completed_at: AT,
  };
}

// A top scope whose second round runs a tool and an agent; the agent's sub-agent has a round
// of its own. Steps arrive in any order (as rows come from the database).
const scopes = [scope('top', null, 0), scope('sub', 'agent', 1)];
const steps = [
  step('answer', 'top', 2, 0, 'model_call'),
  step('agent', 'top', 1, 1, 'agent_call'),
  step('sub-model', 'sub', 0, 0, 'model_call'),
  step('tool', 'top', 1, 0, 'tool_call'),
  step('first', 'top', 0, 0, 'model_call'),
];

const outline = (rows: ReturnType<typeof treeRows>): string[] =>
  rows.map((row) =>
    row.type === 'round' ? `${row.depth}:round ${row.round}` : `${row.depth}:${row.step.id}`,
  );

describe('treeRows', () => {
  it('lists rounds in order, siblings by index, and a sub-agent under its agent step', () => {
    expect(outline(treeRows(scopes, steps, new Set()))).toEqual([
      '0:round 0',
      '0:first',
      '0:round 1',
      '0:tool',
      '0:agent',
      '1:round 0',
      '1:sub-model',
      '0:round 2',
      '0:answer',
    ]);
  });

  it('leaves a folded sub-agent out, and marks the agent step that has one', () => {
    const rows = treeRows(scopes, steps, new Set(['agent']));
    expect(outline(rows)).toEqual([
      '0:round 0',
      '0:first',
      '0:round 1',
      '0:tool',
      '0:agent',
      '0:round 2',
      '0:answer',
    ]);
    const agent = rows.find((row) => row.type === 'step' && row.step.id === 'agent');
    expect(agent?.type === 'step' && agent.child?.id).toBe('sub');
  });

  it('is empty before the top scope exists', () => {
    expect(treeRows([], [], new Set())).toEqual([]);
  });
});
