// Response shapes the mock model can be scripted into, with the number of steps each records.
//
// The mock answers with text as soon as it sees tool results unless `/rounds` asks for more,
// so a scope holds one tool round (model -> tools -> model) or a loop of them. Sequential
// chains across scopes come from sub-agents: the
// `chain` agent's task is itself a `/call chain ...` script, so each level of nesting adds
// model -> agent step -> model around the level below. Every level has to JSON-escape the task
// of the level below, which doubles its backslashes, so the script grows ~2x per level
// (2.2 KB at 9 levels, 33 KB at 13); the deepest shape stops at 9 levels so that payload size
// does not drown out per-step cost. Parallel calls in one round give longer but concurrent
// chains.

export type ShapeKind = 'sequential' | 'parallel';

export interface Shape {
  name: string;
  kind: ShapeKind;
  /** Steps the response records (model, tool and agent steps, all scopes). */
  steps: number;
  /** Steps that run one after another: the critical path. */
  criticalPath: number;
  body: Record<string, unknown>;
}

const NOOP = { type: 'function', name: 'noop' };
const CHAIN = { type: 'function', name: 'chain' };

/** One model call that answers with text. */
export function textShape(): Shape {
  return {
    name: 'text',
    kind: 'sequential',
    steps: 1,
    criticalPath: 1,
    body: { model: 'mock', input: 'hi' },
  };
}

/** model -> `calls` parallel noop tool calls -> model. */
export function toolRoundShape(calls: number): Shape {
  const steps = calls + 2;
  return {
    name: calls === 1 ? 'one tool round' : `${calls} parallel tool calls`,
    kind: calls === 1 ? 'sequential' : 'parallel',
    steps,
    criticalPath: 3,
    body: {
      model: 'mock',
      input: Array.from({ length: calls }, () => '/call noop {}').join('\n'),
      tools: [NOOP],
    },
  };
}

/**
 * model -> noop -> model -> ... : `rounds` sequential tool rounds in one scope (the mock's
 * `/rounds`), 2 * rounds + 1 steps. The chain whose consecutive steps give the per-step
 * overhead, as the baseline's chain of jobs gives its own.
 */
export function toolLoopShape(rounds: number): Shape {
  const steps = 2 * rounds + 1;
  return {
    name: `${rounds} tool rounds`,
    kind: 'sequential',
    steps,
    criticalPath: steps,
    body: { model: 'mock', input: `/rounds ${rounds}\n/call noop {}`, tools: [NOOP] },
  };
}

/** `levels` nested sub-agents around one tool round: 3 * (levels + 1) steps, all sequential. */
export function agentChainShape(levels: number): Shape {
  let script = '/call noop {}';
  for (let level = 0; level < levels; level++) {
    script = `/call chain ${JSON.stringify({ input: script })}`;
  }
  const steps = 3 * (levels + 1);
  return {
    name: `${levels} nested agents`,
    kind: 'sequential',
    steps,
    criticalPath: steps,
    body: { model: 'mock', input: script, tools: [CHAIN, NOOP] },
  };
}

/** Rounds of the tool loop shape; its model calls stay within the bench's maxIterations. */
export const TOOL_LOOP_ROUNDS = 10;

/** The shapes of the per-step latency workload, shortest first. */
export function latencyShapes(): Shape[] {
  return [
    textShape(),
    toolRoundShape(1),
    toolLoopShape(TOOL_LOOP_ROUNDS),
    agentChainShape(3),
    agentChainShape(9),
    toolRoundShape(9),
    toolRoundShape(39),
  ];
}

/** model -> `calls` parallel calls of the `slow` tool -> model: latency-bound, not CPU-bound. */
export function slowRoundShape(calls: number): Shape {
  return {
    name: `${calls} parallel slow tool calls`,
    kind: 'parallel',
    steps: calls + 2,
    criticalPath: 3,
    body: {
      model: 'mock',
      input: Array.from({ length: calls }, () => '/call slow {}').join('\n'),
      tools: [{ type: 'function', name: 'slow' }],
    },
  };
}
