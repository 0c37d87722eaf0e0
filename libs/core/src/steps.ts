import type { ContentPart, FunctionCallItem, Item, McpListToolsItem, ModelItem } from './items';

// The recorded shape of a scope's steps, as the transition function reads them.

export type StepKind = 'model_call' | 'tool_call' | 'agent_call';
export type StepStatus =
  | 'pending'
  | 'running'
  | 'completed'
  | 'failed'
  | 'cancelled'
  /** A call recorded but not run until a human approves it (approvals.ts). */
  | 'awaiting_approval';
export type FinishReason = 'stop' | 'tool_calls' | 'length' | 'content_filter';

export interface StepError {
  code: string;
  message: string;
}

/** What a completed model_call step holds. */
export interface ModelStepResult {
  output: ModelItem[];
  finishReason: FinishReason;
  /** Set when `truncation: "auto"` left items of the input out of the call. */
  truncation?: StepTruncation;
  /**
   * MCP servers listed for this call, because the scope had no listing of them yet: clients
   * see these before the call's output; later calls of the scope offer the tools they list.
   */
  listings?: McpListToolsItem[];
}

/** What truncation left out of a model call's input to fit the model's context window. */
export interface StepTruncation {
  /** Ids of the input items left out, oldest first. */
  droppedItemIds: string[];
  /** The estimated input tokens of the call as sent. */
  estimatedInputTokens: number;
  contextWindow: number;
}

export interface StepRecord {
  id: string;
  round: number;
  index: number;
  kind: StepKind;
  status: StepStatus;
  /** Tool and agent steps: the model's call id; model steps: null. */
  callId: string | null;
  name: string | null;
  arguments: string | null;
  /**
   * model_call: ModelStepResult; tool_call/agent_call: the output text, or for an MCP tool
   * that answered with more than text (images, files), a ToolStepResult.
   */
  result: ModelStepResult | ToolStepResult | string | null;
  error: StepError | null;
}

/** A tool's answer that the model reads as content parts and clients as one text. */
export interface ToolStepResult {
  text: string;
  parts: ContentPart[];
}

/** A tool step's answer as clients see it (text), when it has one. */
export function toolResultText(result: StepRecord['result']): string | null {
  if (typeof result === 'string') return result;
  if (result !== null && 'parts' in result) return result.text;
  return null;
}

/** A step the transition decided on; the store gives it identity (scope, round, index). */
export interface NewStep {
  kind: StepKind;
  index: number;
  callId: string | null;
  name: string | null;
  arguments: string | null;
  /** A call the transition refuses to run (a cap): recorded as already failed with this. */
  refused?: StepError;
  /**
   * A call that waits for a human's approval before it runs (recorded awaiting_approval):
   * what its request shows, the `server_label` and `name` of its call.
   */
  awaitingApproval?: { server_label: string; name: string };
}

export function isTerminalStep(status: StepStatus): boolean {
  switch (status) {
    case 'completed':
    case 'failed':
    case 'cancelled':
      return true;
    case 'pending':
    case 'running':
    case 'awaiting_approval':
      return false;
  }
}

export function modelResult(step: StepRecord): ModelStepResult | null {
  return step.kind === 'model_call' &&
    step.result !== null &&
    typeof step.result === 'object' &&
    'output' in step.result
    ? step.result
    : null;
}

export function functionCalls(items: readonly Item[]): FunctionCallItem[] {
  return items.filter((item): item is FunctionCallItem => item.type === 'function_call');
}
