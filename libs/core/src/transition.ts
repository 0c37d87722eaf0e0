import type { FunctionCallOutputItem, Item } from './items';
import type { FunctionTool } from './response';
import {
  functionCalls,
  isTerminalStep,
  modelResult,
  type NewStep,
  type StepError,
  type StepRecord,
} from './steps';

// The loop's brain: given what a scope has recorded, decide what happens next. Pure: no I/O,
// no clock, no randomness, so the same recorded state always yields the same decision and a
// decision recorded twice is the same decision.

export type ServerToolKind = 'http' | 'agent';

/** The tools a scope offers: definitions for the model, and which of them ratchet runs. */
export interface ScopeTools {
  definitions: FunctionTool[];
  server: Record<string, ServerToolKind>;
}

export interface ScopeState {
  /** Every step recorded in this scope (and only this scope), in any order. */
  steps: readonly StepRecord[];
  /** Server-side tools offered in this scope; any other function name is client-side. */
  serverTools: Readonly<Record<string, ServerToolKind>>;
  /**
   * Whether calls to other functions go to the client (the top scope). A sub-agent has no
   * client to hand calls to: its calls to unknown functions get an error output instead.
   */
  clientTools: boolean;
  /** Model calls allowed in this scope (limits.maxIterations). */
  maxIterations: number;
  /** Budgets of the whole response tree, which every scope in it draws from. */
  budget: ResponseBudget;
}

/** What is left of the response-wide budgets when the scope is advanced. */
export interface ResponseBudget {
  /** Steps that may still be recorded across the tree (limits.maxSteps minus steps so far). */
  steps: number;
  /** Server-side tool calls still allowed (the request's max_tool_calls); null: no limit. */
  toolCalls: number | null;
  /** The response's wall-clock budget (limits.maxDurationMs) has run out. */
  expired: boolean;
}

/** `incomplete_details.reason` values for the caps ratchet enforces beyond OpenAI's own. */
export const CAP_REASONS = {
  maxIterations: 'max_iterations',
  maxSteps: 'max_steps',
  maxDuration: 'max_duration',
} as const;

export type Decision =
  | { type: 'append'; round: number; steps: NewStep[] }
  | { type: 'wait' }
  | { type: 'complete'; output: Item[] }
  | { type: 'incomplete'; reason: string; output: Item[] }
  | { type: 'fail'; error: StepError };

export function transition(state: ScopeState): Decision {
  const rounds = groupRounds(state.steps);
  if (rounds.length === 0) {
    if (state.budget.expired)
      return { type: 'incomplete', reason: CAP_REASONS.maxDuration, output: [] };
    if (state.budget.steps < 1)
      return { type: 'incomplete', reason: CAP_REASONS.maxSteps, output: [] };
    return appendModelCall(0);
  }

  const last = rounds[rounds.length - 1];
  if (!last.every((step) => isTerminalStep(step.status))) return { type: 'wait' };

  const lastRound = last[0].round;
  // Out of time: no new work starts, but a finished answer still stands.
  const outOfTime: Decision = {
    type: 'incomplete',
    reason: CAP_REASONS.maxDuration,
    output: scopeOutput(rounds),
  };
  if (last[0].kind === 'model_call') {
    const step = last[0];
    const result = modelResult(step);
    if (step.status !== 'completed' || result === null) {
      if (state.budget.expired) return outOfTime;
      return {
        type: 'fail',
        error: step.error ?? { code: 'model_error', message: 'The model call did not complete.' },
      };
    }
    const output = scopeOutput(rounds);
    if (result.finishReason === 'length') {
      return { type: 'incomplete', reason: 'max_output_tokens', output };
    }
    if (result.finishReason === 'content_filter') {
      return { type: 'incomplete', reason: 'content_filter', output };
    }
    const serverCalls = functionCalls(result.output).filter(
      (call) => !state.clientTools || Object.hasOwn(state.serverTools, call.name),
    );
    if (serverCalls.length === 0) return { type: 'complete', output };
    if (state.budget.expired) return outOfTime;
    if (serverCalls.length > state.budget.steps) {
      return { type: 'incomplete', reason: CAP_REASONS.maxSteps, output };
    }
    const allowedCalls = state.budget.toolCalls ?? Number.POSITIVE_INFINITY;
    return {
      type: 'append',
      round: lastRound + 1,
      steps: serverCalls.map((call, index) => ({
        kind: state.serverTools[call.name] === 'agent' ? 'agent_call' : 'tool_call',
        index,
        callId: call.call_id,
        name: call.name,
        arguments: call.arguments,
        ...refusal(state, call.name, index >= allowedCalls),
      })),
    };
  }

  // A tool round finished. If the model also asked for client-side tools in the round that
  // led here, the response ends so the client can run them; otherwise the model goes on.
  const askingModel = rounds[rounds.length - 2]?.[0];
  const askedCalls = askingModel ? functionCalls(modelResult(askingModel)?.output ?? []) : [];
  const output = scopeOutput(rounds);
  if (
    state.clientTools &&
    askedCalls.some((call) => !Object.hasOwn(state.serverTools, call.name))
  ) {
    return { type: 'complete', output };
  }
  if (state.budget.expired) return outOfTime;
  const modelCalls = rounds.filter((round) => round[0].kind === 'model_call').length;
  if (modelCalls >= state.maxIterations) {
    return { type: 'incomplete', reason: CAP_REASONS.maxIterations, output };
  }
  if (state.budget.steps < 1) {
    return { type: 'incomplete', reason: CAP_REASONS.maxSteps, output };
  }
  return appendModelCall(lastRound + 1);
}

/** Why a call the model made is not run, if it is not. */
function refusal(state: ScopeState, name: string, overBudget: boolean): { refused?: StepError } {
  if (!Object.hasOwn(state.serverTools, name)) {
    return {
      refused: {
        code: 'tool_not_found',
        message: `There is no tool named '${name}' here; use one of the tools you were given.`,
      },
    };
  }
  return overBudget ? { refused: TOOL_CALLS_EXHAUSTED } : {};
}

const TOOL_CALLS_EXHAUSTED: StepError = {
  code: 'max_tool_calls',
  message: 'This call was not run: the response reached its max_tool_calls limit.',
};

function appendModelCall(round: number): Decision {
  return {
    type: 'append',
    round,
    steps: [{ kind: 'model_call', index: 0, callId: null, name: null, arguments: null }],
  };
}

/** Steps grouped by round, rounds ascending, steps by index. */
export function groupRounds(steps: readonly StepRecord[]): StepRecord[][] {
  const byRound = new Map<number, StepRecord[]>();
  for (const step of steps) {
    const round = byRound.get(step.round);
    if (round) round.push(step);
    else byRound.set(step.round, [step]);
  }
  return [...byRound.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, round]) => round.sort((a, b) => a.index - b.index));
}

/**
 * The items a scope has produced so far, in order: each model call's output, and after it
 * a function_call_output for every server-side tool step, paired with its real call id.
 */
export function scopeOutput(rounds: readonly (readonly StepRecord[])[]): Item[] {
  const items: Item[] = [];
  for (const round of rounds) {
    for (const step of round) {
      if (step.kind === 'model_call') {
        items.push(...(modelResult(step)?.output ?? []));
      } else if (isTerminalStep(step.status)) {
        items.push(toolOutputItem(step));
      }
    }
  }
  return items;
}

/** The conversation a model call in `round` sees: the scope input and all before it. */
export function conversationBefore(
  input: readonly Item[],
  steps: readonly StepRecord[],
  round: number,
): Item[] {
  return [...input, ...scopeOutput(groupRounds(steps.filter((step) => step.round < round)))];
}

export function toolOutputItem(step: StepRecord): FunctionCallOutputItem {
  return {
    type: 'function_call_output',
    id: `fco_${step.id.replace(/^step_/, '')}`,
    call_id: step.callId ?? '',
    output: toolOutputText(step),
    status: 'completed',
  };
}

/** A tool's output as the model sees it; failures become an error the model can read. */
export function toolOutputText(step: StepRecord): string {
  if (step.status === 'completed' && typeof step.result === 'string') return step.result;
  const error = step.error ?? {
    code: step.status === 'cancelled' ? 'cancelled' : 'tool_error',
    message: step.status === 'cancelled' ? 'The tool call was cancelled.' : 'The tool call failed.',
  };
  return JSON.stringify({ error });
}
