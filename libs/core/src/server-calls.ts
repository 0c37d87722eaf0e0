import type {
  FunctionCallItem,
  FunctionCallOutputItem,
  Item,
  McpCallItem,
  McpCallStatus,
  McpListToolsItem,
  ModelItem,
} from './items';
import type { ApprovalPolicy } from './approvals';
import { summaryMessage } from './compaction';
import { modelResult, toolResultText, type StepError, type StepRecord } from './steps';

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
  /** MCP servers offered in the scope, whose tools the model calls as `<label>__<tool>`. */
  mcp?: McpRouting;
  /**
   * Which calls wait for a human's approval: by configured tool name (http, agent) or by MCP
   * server label (for its tools' own names). None: no call does.
   */
  approvals?: Readonly<Record<string, ApprovalPolicy>>;
}

/** The MCP servers of a scope, and what each function name of their tools calls. */
export interface McpRouting {
  /** The servers' labels. */
  labels: readonly string[];
  /** Function names offered to the model, by the scope's listings (`mcpFunctionName`). */
  tools: Readonly<Record<string, McpToolTarget>>;
}

/** An MCP tool: the label of its server and the tool's own name. */
export interface McpToolTarget {
  label: string;
  tool: string;
}

/** Whether ratchet runs a call to `name` itself rather than handing it to the client. */
export function isServerCall(routing: CallRouting, name: string): boolean {
  return (
    !routing.clientTools ||
    Object.hasOwn(routing.serverTools, name) ||
    mcpToolOf(routing, name) !== null
  );
}

/** What separates an MCP server's label from its tool's name in a function name. */
export const MCP_NAME_SEPARATOR = '__';

/**
 * The function name a model calls an MCP tool by: `<label>__<tool>`, every character outside
 * `[a-zA-Z0-9_-]` replaced by `_`, cut to 64 characters (what every upstream accepts). Two
 * tools whose names meet here collide, which a scope refuses (`mcpFunctionTable`).
 */
export function mcpFunctionName(label: string, tool: string): string {
  return `${label}${MCP_NAME_SEPARATOR}${tool}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
}

/**
 * The MCP tool a call to `name` runs, or null when `name` is no MCP tool of the scope: by the
 * scope's listings, else by the longest label `name` starts with (a name the model made up
 * there reaches the server, which refuses it as a tool it does not have).
 */
export function mcpToolOf(routing: CallRouting, name: string): McpToolTarget | null {
  const mcp = routing.mcp;
  if (!mcp) return null;
  if (Object.hasOwn(mcp.tools, name)) return mcp.tools[name];
  let label: string | null = null;
  for (const candidate of mcp.labels) {
    if (!name.startsWith(`${candidate}${MCP_NAME_SEPARATOR}`)) continue;
    if (label === null || candidate.length > label.length) label = candidate;
  }
  if (label === null) return null;
  return { label, tool: name.slice(label.length + MCP_NAME_SEPARATOR.length) };
}

/**
 * Function names of the listed tools, for the servers `labels`: each server's latest listing
 * that did not fail counts. Throws McpNameCollision when two tools (or a tool and one of
 * `taken`, the scope's other function names) share a function name.
 */
export function mcpFunctionTable(
  labels: readonly string[],
  listings: readonly McpListToolsItem[],
  taken: Iterable<string> = [],
): Record<string, McpToolTarget & { listing: McpListToolsItem['tools'][number] }> {
  const latest = new Map<string, McpListToolsItem>();
  for (const listing of listings) {
    if (listing.error === null && labels.includes(listing.server_label)) {
      latest.set(listing.server_label, listing);
    }
  }
  const table: Record<string, McpToolTarget & { listing: McpListToolsItem['tools'][number] }> = {};
  const others = new Set(taken);
  for (const label of labels) {
    for (const tool of latest.get(label)?.tools ?? []) {
      const name = mcpFunctionName(label, tool.name);
      const other = Object.hasOwn(table, name)
        ? `the tool "${table[name].tool}" of MCP server '${table[name].label}'`
        : others.has(name)
          ? `the tool '${name}'`
          : null;
      if (other !== null) {
        throw new McpNameCollision(
          `The tool "${tool.name}" of MCP server '${label}' would be offered to the model as '${name}', the name of ${other} too; give the servers other labels or narrow their allowedTools.`,
        );
      }
      table[name] = { label, tool: tool.name, listing: tool };
    }
  }
  return table;
}

/** Two tools of a scope would reach the model under one function name. */
export class McpNameCollision extends Error {
  readonly code = 'mcp_tool_name_collision';
  constructor(message: string) {
    super(message);
    this.name = 'McpNameCollision';
  }
}

/**
 * Every listing a scope knows: those its input carries (an earlier turn's), then those its
 * model steps made, in round order.
 */
export function scopeListings(
  input: readonly Item[],
  steps: readonly StepRecord[],
): McpListToolsItem[] {
  const listings = input.filter((item): item is McpListToolsItem => item.type === 'mcp_list_tools');
  const made = [...steps]
    .sort((a, b) => a.round - b.round)
    .flatMap((step) => modelResult(step)?.listings ?? []);
  return [...listings, ...made];
}

/** How a scope routes its calls: the tools it offers, its MCP servers, and their listings. */
export function scopeRouting(
  scope: {
    tools: {
      server: Readonly<Record<string, ServerToolKind>>;
      mcp?: readonly string[];
      approval?: Readonly<Record<string, ApprovalPolicy>>;
    };
    input: readonly Item[];
    parentStepId: string | null;
  },
  steps: readonly StepRecord[],
): CallRouting {
  const routing: CallRouting = {
    serverTools: scope.tools.server,
    clientTools: scope.parentStepId === null,
    ...(scope.tools.approval ? { approvals: scope.tools.approval } : {}),
  };
  const labels = scope.tools.mcp ?? [];
  if (labels.length === 0) return routing;
  let tools: Record<string, McpToolTarget> = {};
  try {
    tools = mcpFunctionTable(labels, scopeListings(scope.input, steps));
  } catch {
    // A collision fails the model call that meets it; calls route by label meanwhile.
  }
  return { ...routing, mcp: { labels, tools } };
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
  return serverCallTarget(routing, name, step).label;
}

/**
 * What a server call shows clients: the label of what ran it and the name it ran. An MCP
 * tool shows its server's label and its own name, not the function name the model used.
 */
export function serverCallTarget(
  routing: CallRouting,
  name: string,
  step?: Pick<StepRecord, 'kind'>,
): ServerCallTarget {
  if (step?.kind === 'agent_call') return { label: SERVER_LABELS.agent, name };
  if (!Object.hasOwn(routing.serverTools, name)) {
    const mcp = mcpToolOf(routing, name);
    if (mcp) return { label: mcp.label, name: mcp.tool };
  }
  if (step) return { label: SERVER_LABELS.http, name };
  return { label: SERVER_LABELS[routing.serverTools[name] === 'agent' ? 'agent' : 'http'], name };
}

/** What a server call shows: the `server_label` and `name` of its item. */
export interface ServerCallTarget {
  label: string;
  name: string;
}

/** The function name a model called a server call's item by. */
function functionNameOf(item: Pick<McpCallItem, 'server_label' | 'name'>): string {
  return Object.values(SERVER_LABELS).includes(item.server_label)
    ? item.name
    : mcpFunctionName(item.server_label, item.name);
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
  shown: string | ServerCallTarget,
  modelStepId: string,
): McpCallItem {
  const target = typeof shown === 'string' ? { label: shown, name: call.name } : shown;
  return {
    type: 'mcp_call',
    id: serverCallItemId(call.id, modelStepId),
    call_id: call.call_id,
    server_label: target.label,
    name: target.name,
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
  target: string | ServerCallTarget,
  modelStepId: string,
  step: CallStep | undefined,
): McpCallItem {
  return { ...openServerCall(call, target, modelStepId), ...callOutcome(step) };
}

const NOT_RUN: StepError = {
  code: 'not_run',
  message: 'The call was not run: the response ended before it.',
};
const NOT_FINISHED: StepError = {
  code: 'not_finished',
  message: 'The call did not finish: the response ended while it ran.',
};
const NOT_APPROVED: StepError = {
  code: 'not_approved',
  message: 'The call was not run: the response ended while it waited for approval.',
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
    case 'completed': {
      const text = toolResultText(step.result);
      if (text !== null) return { status: 'completed', output: text, error: null };
      return { status: 'failed', output: null, error: errorText(step.error ?? FAILED) };
    }
    case 'failed':
      return { status: 'failed', output: null, error: errorText(step.error ?? FAILED) };
    case 'cancelled':
      return { status: 'incomplete', output: null, error: errorText(step.error ?? CANCELLED) };
    case 'pending':
    case 'running':
      return { status: 'incomplete', output: null, error: errorText(NOT_FINISHED) };
    case 'awaiting_approval':
      return { status: 'incomplete', output: null, error: errorText(NOT_APPROVED) };
  }
}

/** What a call's step gave the model: its output, or its error as `{"error": {...}}`. */
export function stepOutputText(step: CallStep): string {
  const text = step.status === 'completed' ? toolResultText(step.result) : null;
  if (text !== null) return text;
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
    // A listing reaches the model as the tools it is offered, not as an item.
    if (item.type === 'mcp_list_tools') continue;
    // Approval requests and answers are between ratchet and the client: the model reads the
    // call's outcome once it ran (or was refused), as an mcp_call.
    if (item.type === 'mcp_approval_request' || item.type === 'mcp_approval_response') continue;
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
      name: functionNameOf(item),
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
