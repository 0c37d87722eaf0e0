import { callNeedsApproval, type ApprovalPolicy } from './approvals';
import type { FunctionCallOutputItem, Item, ModelItem } from './items';
import type { FunctionTool, ResponseTool } from './response';
import {
  isServerCall,
  mcpToolOf,
  modelItems,
  serverCallTarget,
  settledServerCall,
  stepOutputText,
  type CallRouting,
  type ServerToolKind,
} from './server-calls';
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

/** The tools a scope offers: definitions for the model, and which of them ratchet runs. */
export interface ScopeTools {
  definitions: FunctionTool[];
  server: Record<string, ServerToolKind>;
  /**
   * Labels of the MCP servers the scope offers (config tools of `type: mcp`). Their tools are
   * listed when the scope's first model call runs and offered as `<label>__<tool>`.
   */
  mcp?: string[];
  /**
   * The MCP servers among `mcp` that the request named by URL (`{"type": "mcp"}` tools),
   * by label. Config servers are not here: the config says how to reach them.
   */
  remote?: Record<string, RemoteMcpServer>;
  /**
   * Which calls wait for a human's approval, by configured tool name or MCP server label
   * (absent: none). A request's MCP server has its `require_approval` here.
   */
  approval?: Record<string, ApprovalPolicy>;
}

/** An MCP server a request named, as its scope keeps it. */
export interface RemoteMcpServer {
  url: string;
  /** Only these tools are listed and may be called; all when null. */
  allowedTools: string[] | null;
  description: string | null;
  /**
   * The request's `headers` (and `authorization`, as `Authorization: Bearer ...`), sealed
   * for `mcp-headers:<response id>:<label>`; null when it sent none. Never in clear.
   */
  sealedHeaders: string | null;
}

/** The tools a Response shows for a scope's tools. */
export function responseTools(tools: ScopeTools | null | undefined): ResponseTool[] {
  if (!tools) return [];
  const remote = tools.remote ?? {};
  const servers = (tools.mcp ?? []).map((label): ResponseTool =>
    Object.hasOwn(remote, label)
      ? {
          type: 'mcp',
          server_label: label,
          server_url: remote[label].url,
          allowed_tools: remote[label].allowedTools,
          require_approval: requireApprovalOf(tools.approval?.[label]),
          server_description: remote[label].description,
        }
      : { type: 'function', name: label, description: null, parameters: null, strict: null },
  );
  return [...tools.definitions, ...servers];
}

/** A policy as a Response's `tools` echoes `require_approval`. */
function requireApprovalOf(
  policy: ApprovalPolicy | undefined,
): 'always' | 'never' | { always?: { tool_names: string[] }; never?: { tool_names: string[] } } {
  if (policy === undefined) return 'never';
  if (typeof policy === 'string') return policy;
  return {
    ...(policy.always ? { always: { tool_names: policy.always } } : {}),
    ...(policy.never ? { never: { tool_names: policy.never } } : {}),
  };
}

export interface ScopeState extends CallRouting {
  /** Every step recorded in this scope (and only this scope), in any order. */
  steps: readonly StepRecord[];
  /** Model calls allowed in this scope (limits.maxIterations). */
  maxIterations: number;
  /** Budgets of the whole response tree, which every scope in it draws from. */
  budget: ResponseBudget;
  /** Items an adopted scope showed in earlier responses: left out of this one's output. */
  shown?: readonly string[];
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
  // The items so far, made only for a decision that ends the scope: most decisions append.
  const output = (): Item[] => scopeOutput(rounds, state);
  // Out of time: no new work starts, but a finished answer still stands.
  const outOfTime = (): Decision => ({
    type: 'incomplete',
    reason: CAP_REASONS.maxDuration,
    output: output(),
  });
  if (last[0].kind === 'model_call') {
    const step = last[0];
    const result = modelResult(step);
    if (step.status !== 'completed' || result === null) {
      if (state.budget.expired) return outOfTime();
      return {
        type: 'fail',
        error: step.error ?? { code: 'model_error', message: 'The model call did not complete.' },
      };
    }
    if (result.finishReason === 'length') {
      return { type: 'incomplete', reason: 'max_output_tokens', output: output() };
    }
    if (result.finishReason === 'content_filter') {
      return { type: 'incomplete', reason: 'content_filter', output: output() };
    }
    const serverCalls = functionCalls(result.output).filter((call) =>
      isServerCall(state, call.name),
    );
    if (serverCalls.length === 0) return { type: 'complete', output: output() };
    if (state.budget.expired) return outOfTime();
    if (serverCalls.length > state.budget.steps) {
      return { type: 'incomplete', reason: CAP_REASONS.maxSteps, output: output() };
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
        ...gate(state, call.name, index >= allowedCalls),
      })),
    };
  }

  // A tool round finished. If the model also asked for client-side tools in the round that
  // led here, the response ends so the client can run them; otherwise the model goes on.
  const askingModel = rounds[rounds.length - 2]?.[0];
  const askedCalls = askingModel ? functionCalls(modelResult(askingModel)?.output ?? []) : [];
  if (askedCalls.some((call) => !isServerCall(state, call.name))) {
    return { type: 'complete', output: output() };
  }
  if (state.budget.expired) return outOfTime();
  const modelCalls = rounds.filter((round) => round[0].kind === 'model_call').length;
  if (modelCalls >= state.maxIterations) {
    return { type: 'incomplete', reason: CAP_REASONS.maxIterations, output: output() };
  }
  if (state.budget.steps < 1) {
    return { type: 'incomplete', reason: CAP_REASONS.maxSteps, output: output() };
  }
  return appendModelCall(lastRound + 1);
}

/** Whether a call runs now, is refused, or waits for a human's approval. */
function gate(
  state: ScopeState,
  name: string,
  overBudget: boolean,
): Pick<NewStep, 'refused' | 'awaitingApproval'> {
  const refused = refusal(state, name, overBudget);
  if (refused.refused) return refused;
  if (!callNeedsApproval(state, name)) return {};
  const target = serverCallTarget(state, name);
  return { awaitingApproval: { server_label: target.label, name: target.name } };
}

/** Why a call the model made is not run, if it is not. */
function refusal(state: ScopeState, name: string, overBudget: boolean): { refused?: StepError } {
  if (!Object.hasOwn(state.serverTools, name) && mcpToolOf(state, name) === null) {
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
 * The items a scope has produced so far, as clients see them: each model call's output, in
 * which every call ratchet runs itself is an `mcp_call` item carrying how it ended. Calls
 * for the client stay function calls.
 */
export function scopeOutput(
  rounds: readonly (readonly StepRecord[])[],
  routing: CallRouting & { shown?: readonly string[] },
  options: ScopeOutputOptions = {},
): Item[] {
  const items: Item[] = [];
  rounds.forEach((round, r) => {
    const model = round[0].kind === 'model_call' ? modelResult(round[0]) : null;
    if (!model) return;
    // The transition made step i of the next round for the i-th server call.
    const next = rounds[r + 1];
    const steps = next && next[0].kind !== 'model_call' ? next : [];
    items.push(...(model.listings ?? []));
    let index = 0;
    for (const item of model.output) {
      if (item.type !== 'function_call' || !isServerCall(routing, item.name)) {
        items.push(item);
        continue;
      }
      const step = steps.find((candidate) => candidate.index === index);
      index += 1;
      // A paused turn leaves out the calls that wait (the continuation shows them).
      if (options.paused && step && !isTerminalStep(step.status)) continue;
      const target = serverCallTarget(routing, item.name, step);
      items.push(settledServerCall(item, target, round[0].id, step));
    }
  });
  if (!routing.shown || routing.shown.length === 0) return items;
  const shown = new Set(routing.shown);
  return items.filter((item) => !shown.has(item.id));
}

export interface ScopeOutputOptions {
  /** The scope pauses for approvals: calls that have not ended are left out. */
  paused?: boolean;
}

/**
 * The conversation a model call in `round` sees: the scope input and everything the scope
 * did before, as the model reads it: each model call's output, then a function_call_output
 * for every server-side call, paired with its real call id.
 */
export function conversationBefore(
  input: readonly Item[],
  steps: readonly StepRecord[],
  round: number,
): ModelItem[] {
  const model: ModelItem[] = modelItems(input);
  for (const earlier of groupRounds(steps.filter((step) => step.round < round))) {
    for (const step of earlier) {
      if (step.kind === 'model_call') {
        model.push(...(modelResult(step)?.output ?? []));
      } else if (isTerminalStep(step.status)) {
        model.push(toolOutputItem(step));
      }
    }
  }
  return model;
}

export function toolOutputItem(step: StepRecord): FunctionCallOutputItem {
  // An MCP tool's images and files reach the model as parts in the turn that called it.
  const rich =
    step.status === 'completed' && step.result !== null && typeof step.result === 'object'
      ? 'parts' in step.result
        ? step.result.parts
        : null
      : null;
  return {
    type: 'function_call_output',
    id: `fco_${step.id.replace(/^step_/, '')}`,
    call_id: step.callId ?? '',
    output: rich ?? stepOutputText(step),
    status: 'completed',
  };
}

/**
 * A new scope's first decision, which needs nothing of the scope but the caps: one model call
 * with its input, unless a cap leaves no room for one.
 */
export function firstDecision(limits: { maxIterations: number; maxSteps: number }): Decision {
  return transition({
    steps: [],
    serverTools: {},
    clientTools: true,
    maxIterations: limits.maxIterations,
    budget: { steps: limits.maxSteps, toolCalls: null, expired: false },
  });
}
