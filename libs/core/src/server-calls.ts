import type {
  FunctionCallItem,
  FunctionCallOutputItem,
  Item,
  McpCallItem,
  McpCallStatus,
  ModelItem,
} from './items';
import { summaryMessage } from './compaction';
import type { StepError, StepRecord } from './steps';

// Calls ratchet runs itself have two faces. The model made them as function calls and reads
// their results as function_call_output items paired by call id; clients see each as one
// `mcp_call` item, as OpenAI shows the calls it hosts, so that no SDK runs it a second time.
// Responses store what clients see; `modelItems` turns it back into what the model reads.

/** What runs a server-side tool: an http endpoint or a sub-agent (config `type`). */
export type ServerToolKind = 'http' | 'agent';

/** Which of a scope's function calls ratchet runs itself, and what runs each. */
export interface CallRouting {
  /** Server-side tools offered in the scope; any other function name is client-side. */
  serverTools: Readonly<Record<string, ServerToolKind>>;
  /**
   * Whether calls to other functions go to the client (the top scope). A sub-agent has no
   * client to hand calls to: it runs (or refuses) every call itself.
   */
  clientTools: boolean;
}

/** Whether ratchet runs a call to `name` itself rather than handing it to the client. */
export function isServerCall(routing: CallRouting, name: string): boolean {
  return !routing.clientTools || Object.hasOwn(routing.serverTools, name);
}

/** The `server_label` of the calls each kind of configured tool runs. */
export const SERVER_LABELS: Readonly<Record<ServerToolKind, string>> = {
  http: 'http',
  agent: 'agent',
};

/** The label of a call to `name`: from the step that ran it, else from the offered tools. */
export function serverLabel(
  routing: CallRouting,
  name: string,
  step?: Pick<StepRecord, 'kind'>,
): string {
  if (step) return SERVER_LABELS[step.kind === 'agent_call' ? 'agent' : 'http'];
  return SERVER_LABELS[routing.serverTools[name] === 'agent' ? 'agent' : 'http'];
}

/**
 * The id of a server call's item: the model turn that made the call (a key of its model
 * step's id), then its function call's item id. The turn lets `modelItems` give the model
 * back each turn's calls together, even where a flat list of items shows two turns' calls
 * side by side.
 */
export function serverCallItemId(functionCallItemId: string, modelStepId: string): string {
  return `mcp_${turnKey(modelStepId)}_${functionCallItemId.replace(/^fc_/, '')}`;
}

function turnKey(modelStepId: string): string {
  return modelStepId
    .replace(/^step_/, '')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 12);
}

const SERVER_CALL_ID = /^mcp_([A-Za-z0-9]{1,12})_(.+)$/;

/** A server call item's turn and function call suffix, as its id has them. */
function parseServerCallId(id: string): { turn: string | null; suffix: string } {
  const match = SERVER_CALL_ID.exec(id);
  return match
    ? { turn: match[1], suffix: match[2] }
    : { turn: null, suffix: id.replace(/^mcp_/, '') };
}

/** A server call as it opens, made by the model step `modelStepId`: it streams, or it runs. */
export function openServerCall(
  call: FunctionCallItem,
  label: string,
  modelStepId: string,
): McpCallItem {
  return {
    type: 'mcp_call',
    id: serverCallItemId(call.id, modelStepId),
    call_id: call.call_id,
    server_label: label,
    name: call.name,
    arguments: call.arguments,
    output: null,
    error: null,
    status: 'in_progress',
  };
}

/** The parts of a step that say how its call ended. */
export type CallStep = Pick<StepRecord, 'status' | 'result' | 'error'>;

/** A server call as its step left it; without a step, the call was never run. */
export function settledServerCall(
  call: FunctionCallItem,
  label: string,
  modelStepId: string,
  step: CallStep | undefined,
): McpCallItem {
  return { ...openServerCall(call, label, modelStepId), ...callOutcome(step) };
}

const NOT_RUN: StepError = {
  code: 'not_run',
  message: 'The call was not run: the response ended before it.',
};
const NOT_FINISHED: StepError = {
  code: 'not_finished',
  message: 'The call did not finish: the response ended while it ran.',
};
const CANCELLED: StepError = { code: 'cancelled', message: 'The tool call was cancelled.' };
const FAILED: StepError = { code: 'tool_error', message: 'The tool call failed.' };

function callOutcome(step: CallStep | undefined): {
  status: McpCallStatus;
  output: string | null;
  error: string | null;
} {
  if (!step) return { status: 'incomplete', output: null, error: errorText(NOT_RUN) };
  switch (step.status) {
    case 'completed':
      if (typeof step.result === 'string') {
        return { status: 'completed', output: step.result, error: null };
      }
      return { status: 'failed', output: null, error: errorText(step.error ?? FAILED) };
    case 'failed':
      return { status: 'failed', output: null, error: errorText(step.error ?? FAILED) };
    case 'cancelled':
      return { status: 'incomplete', output: null, error: errorText(step.error ?? CANCELLED) };
    case 'pending':
    case 'running':
      return { status: 'incomplete', output: null, error: errorText(NOT_FINISHED) };
  }
}

/** What a call's step gave the model: its output, or its error as `{"error": {...}}`. */
export function stepOutputText(step: CallStep): string {
  if (step.status === 'completed' && typeof step.result === 'string') return step.result;
  const error = step.error ?? (step.status === 'cancelled' ? CANCELLED : FAILED);
  return JSON.stringify({ error });
}

/**
 * An error as an mcp_call item carries it (OpenAI's `error` is a string): `code: message`,
 * which `serverCallOutputText` reads back into the object the model saw.
 */
export function errorText(error: StepError): string {
  return `${error.code}: ${error.message}`;
}

function parseErrorText(text: string): StepError {
  const match = /^([A-Za-z0-9_.-]+): ([\s\S]*)$/.exec(text);
  return match ? { code: match[1], message: match[2] } : { code: 'tool_error', message: text };
}

const OUTPUT_UNAVAILABLE: StepError = {
  code: 'output_unavailable',
  message: "The call's output was not sent with it.",
};

/**
 * What the model reads as a server call's result: the same text its step gave the model
 * when it ran (`stepOutputText`), rebuilt from the item.
 */
export function serverCallOutputText(
  item: Pick<McpCallItem, 'status' | 'output' | 'error'>,
): string {
  if (item.output !== null) return item.output;
  const error =
    item.error !== null
      ? parseErrorText(item.error)
      : item.status === 'completed'
        ? OUTPUT_UNAVAILABLE
        : NOT_FINISHED;
  return JSON.stringify({ error });
}

/**
 * Items as a model reads them: each server call becomes the function call the model made and
 * its output. A turn's calls come first and their outputs after the last of them, as they
 * were when the model made them (several calls of one turn, then their results). Server
 * calls of two turns are told apart by the turn their ids carry; a client's function call
 * that follows server calls is taken to be of their turn. A compaction item becomes the
 * developer message that carries its summary (`summaryMessage`).
 */
export function modelItems(items: readonly Item[]): ModelItem[] {
  const model: ModelItem[] = [];
  let outputs: FunctionCallOutputItem[] = [];
  let turn: string | null = null;
  const endTurn = (): void => {
    model.push(...outputs);
    outputs = [];
  };
  for (const item of items) {
    if (item.type === 'mcp_call') {
      const parsed = parseServerCallId(item.id);
      if (outputs.length > 0 && parsed.turn !== turn) endTurn();
      turn = parsed.turn;
      const { call, output } = expandServerCall(item, parsed.suffix);
      model.push(call);
      outputs.push(output);
      continue;
    }
    if (item.type !== 'function_call') endTurn();
    model.push(item.type === 'compaction' ? summaryMessage(item) : item);
  }
  endTurn();
  return model;
}

function expandServerCall(
  item: McpCallItem,
  suffix: string,
): { call: FunctionCallItem; output: FunctionCallOutputItem } {
  const callId = item.call_id || `call_${suffix}`;
  return {
    call: {
      type: 'function_call',
      id: `fc_${suffix}`,
      call_id: callId,
      name: item.name,
      arguments: item.arguments,
      status: 'completed',
    },
    output: {
      type: 'function_call_output',
      id: `fco_${suffix}`,
      call_id: callId,
      output: serverCallOutputText(item),
      status: 'completed',
    },
  };
}
