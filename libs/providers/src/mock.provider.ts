/**
 * # The mock model
 *
 * `provider: mock` is a deterministic scripted model: it needs no network, and what it says
 * is driven by the conversation, so demos and tests can script whole agent runs.
 *
 * **After tool results.** When the input ends with `function_call_output` items (the results
 * of the last tool round) and the tool rounds `/rounds` asks for have run, the mock answers
 * with one line per result, in order:
 * `<tool name>: <output>` (array outputs flattened to their text). It does so whatever
 * `tool_choice` says, so a scripted tool loop always ends. Of the last user message's
 * directives only the streaming ones, `/stream` and `/cut`, still apply to that answer.
 *
 * **Otherwise** it reads the last `user` message. A line that starts (after trimming) with one
 * of these directives scripts the turn; every other line is ordinary text.
 *
 * - `/call <name> [json]` calls function `<name>` with the JSON text exactly as given (`{}`
 *   when omitted). Several `/call` lines are parallel calls in one turn; only the first is
 *   made when `parallel_tool_calls` is false, and none when `tool_choice` is `none`. The tool
 *   need not be in `tools`, so client-side tools can be scripted too.
 * - `/rounds <n>` makes the turn's calls again after each tool round, until `n` tool rounds
 *   (1-1000; default 1) have run since the user message: a sequential tool loop in one scope.
 *   The rounds are counted from the input (runs of `function_call_output` items after the
 *   last user message), so the mock keeps no state.
 * - `/reply <text>` makes the answer exactly `<text>`; several `/reply` lines are joined with
 *   newlines.
 * - `/think <text>` also emits a reasoning item with `<text>` before the answer.
 * - `/sleep <ms>` waits that long before answering. Cancelling the response interrupts it;
 *   past the model's `timeoutMs` it fails as an upstream timeout.
 * - `/fail <status> [message]` fails like an upstream answering that HTTP status (400-599):
 *   408, 409, 429 and 5xx are retryable; 429 is `rate_limit_exceeded`, 401 and 403 are
 *   `upstream_auth_error`, a 400 whose message is about the context length is
 *   `context_length_exceeded`, anything else `upstream_error`.
 * - `/stream <ms>` waits that long between consecutive deltas of a streamed turn (the last
 *   `/stream` line wins; default 0, no waits). Like `/sleep`, cancelling interrupts the waits,
 *   and the waits count toward the model's `timeoutMs`. Ignored when the call does not stream.
 * - `/cut <n>` breaks a streamed turn off after `n` deltas (after its last delta when it has
 *   fewer): the call fails with `upstream_stream_error`, retryable, like an upstream whose
 *   stream dropped mid-way. It cuts every streamed call (the mock keeps no state), so use it
 *   with a fallback model or to test failures. The first `/cut` line wins; ignored when the
 *   call does not stream.
 *
 * Without `/reply` and without calls, the answer is `You said: <the other lines, trimmed>`,
 * or `Hello from the mock model.` when there is no user message at all. A turn that calls
 * tools has no message unless `/reply` gives one.
 *
 * **Asked for a tool.** A message with no `/call` and no `/reply` line that names an offered
 * tool (a word of four letters or more of the tool's name, such as `weather` of
 * `get_weather`, appears in it as a word) calls that tool: the first such in `tools`. Its
 * arguments come from the tool's parameters: each required property (every property when
 * none is required) gets the message text if it is a string, else the zero value of its type.
 *
 * **Summaries.** A summary call (POST /v1/responses/compact: instructions that start with
 * `COMPACTION_INSTRUCTIONS`) is answered with one line per item of the conversation it
 * summarises, in order, each item's text on one line (runs of whitespace as one space):
 * `<role>: <text>` for a message (a compaction item reads as the developer message
 * `Summary of the earlier conversation: ...`), `called <name>(<arguments>)` for a function
 * call, `<name> returned: <output>` for its output; reasoning is left out, and a
 * conversation of none of these is `Nothing to summarise.`. Of the directives in the
 * conversation's last user message only `/sleep` and `/fail` apply.
 *
 * **tool_choice.** `required` with no `/call` line calls the first offered tool with `{}`. A
 * named function calls exactly that function, with the arguments of a `/call` line naming it,
 * else `{}`. A turn with calls finishes with `tool_calls`, any other with `stop`.
 *
 * **Limits and usage.** When the answer's token estimate (characters / 4, rounded up) exceeds
 * `max_output_tokens`, it is cut to `max_output_tokens * 4` characters, the message is
 * `incomplete` and the turn finishes with `length`. Usage is estimated the same way: input
 * tokens from the characters of the instructions and of every input item's text (message
 * text, call names and arguments, tool outputs, reasoning), output tokens from the output's.
 *
 * **Streaming.** When the call passes `onDelta`, the mock reports deltas for its output before
 * it returns, in output order: the reasoning text, then the message text, then each call's
 * arguments. Each delta names its item by the id the item has in the result, and an item's
 * deltas add up to exactly its final text (or arguments). Message and reasoning text come a
 * word at a time with the whitespace after it (`Hello `, `world`), arguments in fragments of
 * up to 8 characters; neither ever splits a surrogate pair, and empty text has no delta.
 * `/sleep` and `/fail` act before the first delta.
 *
 * A malformed directive (`/sleep soon`, `/call` without a name, `/fail 200`, `/stream x`,
 * `/cut -1`, `/rounds 0`) fails the call with code `invalid_mock_directive`, so a typo in a script is never
 * silently ignored.
 */
import {
  chunkText,
  isSummaryCall,
  summarisedItems,
  type FunctionCallOutputItem,
  type ModelItem,
  type MessageItem,
  messageText,
  newId,
  type Usage,
} from '@ratchet/core';
import { abortError, MAX_TIMER_MS, sleep } from './abort-signals';
import { toolOutputText } from './item-text';
import { assistantItem, functionCallItem, reasoningItem } from './output-items';
import {
  type FinishReason,
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
  type ToolDefinition,
  UpstreamError,
} from './provider';
import { upstreamErrorForStatus } from './upstream-errors';
import { CHARS_PER_TOKEN, estimateTokens, inputChars, itemChars, usageOf } from './usage-estimate';

export interface MockProviderOptions {
  /**
   * Like a real upstream's timeout: when `/sleep` and the `/stream` waits together would take
   * longer than this, the call fails as `upstream_timeout` once this has passed.
   */
  timeoutMs?: number;
}

interface ScriptedCall {
  name: string;
  arguments: string;
}

/** What the directives of one user message ask for. */
interface Script {
  calls: ScriptedCall[];
  replies: string[];
  thoughts: string[];
  sleepMs: number;
  failure: { status: number; message: string } | null;
  /** Milliseconds between consecutive deltas of a streamed turn. */
  streamDelayMs: number;
  /** How many deltas a streamed turn reports before it breaks off; null streams it all. */
  cutAfter: number | null;
  /** Tool rounds to run before answering the tools' results. */
  rounds: number;
  /** The non-directive lines, trimmed. */
  text: string;
}

/** The most tool rounds `/rounds` may ask for. */
const MAX_ROUNDS = 1000;

/** The most characters of function call arguments one delta carries. */
const ARGUMENT_FRAGMENT_CHARS = 8;

export class MockProvider implements ModelProvider {
  constructor(private readonly options: MockProviderOptions = {}) {}

  async call(request: ModelCallRequest): Promise<ModelCallResult> {
    if (request.signal?.aborted) throw abortError(request.signal);
    const clock = new CallClock(this.options.timeoutMs, request.signal);
    const summary = isSummaryCall(request.instructions);
    const conversation = summary ? summarisedItems(request.input) : request.input;
    const userMessage = lastUserMessage(conversation);
    const script = parseScript(userMessage ? messageText(userMessage) : '');
    const result = summary
      ? await summaryResult(request, conversation, script, clock)
      : await turnResult(request, userMessage, script, clock);
    if (request.onDelta) {
      await stream(outputDeltas(result.output), script, clock, request.onDelta, request.signal);
    }
    return result;
  }
}

/** The turn's result, once `/sleep` has passed and unless `/fail` fails it. */
async function turnResult(
  request: ModelCallRequest,
  userMessage: MessageItem | null,
  script: Script,
  clock: CallClock,
): Promise<ModelCallResult> {
  const toolResults = trailingToolResults(request.input);
  if (toolResults.length > 0 && toolRoundsRun(request.input) >= script.rounds) {
    return finish(request, [], summariseToolResults(request.input, toolResults), []);
  }
  await clock.wait(script.sleepMs);
  if (script.failure) {
    throw upstreamErrorForStatus(script.failure.status, script.failure.message);
  }
  const calls = chooseCalls(script, request);
  return finish(request, script.thoughts, answerText(script, userMessage, calls), calls);
}

/** A summary call's result: the conversation line by line, once `/sleep` and `/fail` had their say. */
async function summaryResult(
  request: ModelCallRequest,
  conversation: readonly ModelItem[],
  script: Script,
  clock: CallClock,
): Promise<ModelCallResult> {
  await clock.wait(script.sleepMs);
  if (script.failure) {
    throw upstreamErrorForStatus(script.failure.status, script.failure.message);
  }
  return finish(request, [], summaryText(conversation), []);
}

function summaryText(conversation: readonly ModelItem[]): string {
  const names = new Map<string, string>();
  const lines: string[] = [];
  const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim();
  for (const item of conversation) {
    switch (item.type) {
      case 'message':
        lines.push(`${item.role}: ${oneLine(messageText(item))}`);
        break;
      case 'function_call':
        names.set(item.call_id, item.name);
        lines.push(`called ${item.name}(${oneLine(item.arguments)})`);
        break;
      case 'function_call_output': {
        const name = names.get(item.call_id) ?? item.call_id;
        lines.push(`${name} returned: ${oneLine(toolOutputText(item.output))}`);
        break;
      }
      case 'reasoning':
        break;
    }
  }
  return lines.length > 0 ? lines.join('\n') : 'Nothing to summarise.';
}

/**
 * The time one call has spent waiting, against the model's timeout: like a real upstream's
 * deadline, it covers the whole call, `/sleep` and the waits between deltas alike.
 */
class CallClock {
  private waitedMs = 0;

  constructor(
    private readonly timeoutMs: number | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Waits `ms`; fails as an upstream timeout once the timeout passes first. */
  async wait(ms: number): Promise<void> {
    if (ms === 0) return;
    const leftMs = this.timeoutMs === undefined ? Infinity : this.timeoutMs - this.waitedMs;
    if (ms <= leftMs) {
      this.waitedMs += ms;
      return sleep(ms, this.signal);
    }
    await sleep(leftMs, this.signal);
    throw new UpstreamError(`The upstream model did not answer within ${this.timeoutMs} ms.`, {
      code: 'upstream_timeout',
      retryable: true,
    });
  }
}

/**
 * Reports `deltas` one by one, `/stream` apart, and breaks off as `/cut` says. An abort
 * interrupts the waits, and one raised by a listener stops the stream at once.
 */
async function stream(
  deltas: readonly ModelDelta[],
  script: Script,
  clock: CallClock,
  onDelta: (delta: ModelDelta) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const cutAt = script.cutAfter === null ? null : Math.min(script.cutAfter, deltas.length);
  const end = cutAt ?? deltas.length;
  for (let index = 0; index < end; index++) {
    if (index > 0) await clock.wait(script.streamDelayMs);
    onDelta(deltas[index]);
    if (signal?.aborted) throw abortError(signal);
  }
  if (cutAt !== null) {
    const count = `${cutAt} ${cutAt === 1 ? 'delta' : 'deltas'}`;
    throw new UpstreamError(`The upstream model stream was cut after ${count}.`, {
      code: 'upstream_stream_error',
      retryable: true,
    });
  }
}

/** The deltas that add up to `output`, in output order, each naming its item by id. */
function outputDeltas(output: readonly ModelItem[]): ModelDelta[] {
  const deltas: ModelDelta[] = [];
  for (const item of output) {
    switch (item.type) {
      case 'reasoning':
        for (const part of item.content ?? []) {
          for (const delta of words(part.text)) {
            deltas.push({ type: 'reasoning', itemId: item.id, delta });
          }
        }
        break;
      case 'message':
        for (const part of item.content) {
          if (part.type !== 'output_text') continue;
          for (const delta of words(part.text)) {
            deltas.push({ type: 'text', itemId: item.id, delta });
          }
        }
        break;
      case 'function_call':
        for (const delta of chunkText(item.arguments, ARGUMENT_FRAGMENT_CHARS)) {
          deltas.push({
            type: 'arguments',
            itemId: item.id,
            callId: item.call_id,
            name: item.name,
            delta,
          });
        }
        break;
      case 'function_call_output':
        break;
    }
  }
  return deltas;
}

/**
 * `text` as a tokenizer might stream it: each word with the whitespace after it, and any
 * leading whitespace on its own. The pieces join up to `text`; a surrogate pair is never split
 * (both halves are non-whitespace).
 */
function words(text: string): string[] {
  return text.match(/\S+\s*|\s+/gu) ?? [];
}

/** The function_call_output items at the very end of the input. */
function trailingToolResults(input: readonly ModelItem[]): FunctionCallOutputItem[] {
  const results: FunctionCallOutputItem[] = [];
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i];
    if (item.type !== 'function_call_output') break;
    results.unshift(item);
  }
  return results;
}

/** Tool rounds since the last user message: runs of function_call_output items. */
function toolRoundsRun(input: readonly ModelItem[]): number {
  let rounds = 0;
  let inRun = false;
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i];
    if (item.type === 'message' && item.role === 'user') break;
    const isOutput = item.type === 'function_call_output';
    if (isOutput && !inRun) rounds += 1;
    inRun = isOutput;
  }
  return rounds;
}

function summariseToolResults(
  input: readonly ModelItem[],
  results: FunctionCallOutputItem[],
): string {
  const names = new Map<string, string>();
  for (const item of input) {
    if (item.type === 'function_call') names.set(item.call_id, item.name);
  }
  return results
    .map(
      (result) =>
        `${names.get(result.call_id) ?? result.call_id}: ${toolOutputText(result.output)}`,
    )
    .join('\n');
}

function lastUserMessage(input: readonly ModelItem[]): MessageItem | null {
  for (let i = input.length - 1; i >= 0; i--) {
    const item = input[i];
    if (item.type === 'message' && item.role === 'user') return item;
  }
  return null;
}

type DirectiveHandler = (script: Script, argument: string, line: string) => void;

const DIRECTIVES: Record<string, DirectiveHandler> = {
  call: (script, argument, line) => {
    const [, name, args] = /^(\S+)(?:\s+(.*))?$/.exec(argument) ?? [];
    if (!name) throw invalidDirective(line, 'expected /call <name> [json arguments]');
    script.calls.push({ name, arguments: args?.trim() || '{}' });
  },
  rounds: (script, argument, line) => {
    const rounds = Number(argument);
    if (!/^\d+$/.test(argument) || rounds < 1 || rounds > MAX_ROUNDS) {
      throw invalidDirective(line, `expected /rounds <tool rounds, 1-${MAX_ROUNDS}>`);
    }
    script.rounds = rounds;
  },
  reply: (script, argument) => {
    script.replies.push(argument);
  },
  think: (script, argument) => {
    script.thoughts.push(argument);
  },
  sleep: (script, argument, line) => {
    if (!/^\d+$/.test(argument) || script.sleepMs + Number(argument) > MAX_TIMER_MS) {
      throw invalidDirective(line, `expected /sleep <milliseconds, at most ${MAX_TIMER_MS}>`);
    }
    script.sleepMs += Number(argument);
  },
  fail: (script, argument, line) => {
    const [, status, message] = /^(\d{3})(?:\s+(.*))?$/.exec(argument) ?? [];
    const code = Number(status);
    if (!status || code < 400 || code > 599) {
      throw invalidDirective(line, 'expected /fail <status 400-599> [message]');
    }
    // The first failure wins: an upstream fails only once per call.
    script.failure ??= { status: code, message: message?.trim() || `Mock failure (HTTP ${code}).` };
  },
  stream: (script, argument, line) => {
    if (!/^\d+$/.test(argument) || Number(argument) > MAX_TIMER_MS) {
      throw invalidDirective(line, `expected /stream <milliseconds, at most ${MAX_TIMER_MS}>`);
    }
    script.streamDelayMs = Number(argument);
  },
  cut: (script, argument, line) => {
    if (!/^\d+$/.test(argument) || !Number.isSafeInteger(Number(argument))) {
      throw invalidDirective(line, 'expected /cut <number of deltas>');
    }
    // The first cut wins: a stream breaks off only once.
    script.cutAfter ??= Number(argument);
  },
};

/** Reads the directives of a user message; lines that are not directives are its text. */
function parseScript(text: string): Script {
  const script: Script = {
    calls: [],
    replies: [],
    thoughts: [],
    sleepMs: 0,
    failure: null,
    streamDelayMs: 0,
    cutAfter: null,
    rounds: 1,
    text: '',
  };
  const plainLines: string[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    const [, name, argument] = /^\/(\w+)(?:\s+(.*))?$/.exec(line) ?? [];
    // Only known directives count, so a line like `/usr/bin is missing` stays text.
    const handler = name !== undefined && Object.hasOwn(DIRECTIVES, name) ? DIRECTIVES[name] : null;
    if (handler) handler(script, (argument ?? '').trim(), line);
    else plainLines.push(rawLine);
  }
  script.text = plainLines.join('\n').trim();
  return script;
}

function invalidDirective(line: string, expected: string): UpstreamError {
  return new UpstreamError(`Invalid mock directive '${line}': ${expected}.`, {
    code: 'invalid_mock_directive',
    status: 400,
    retryable: false,
  });
}

/** The calls this turn makes once tool_choice and parallel_tool_calls have had their say. */
function chooseCalls(script: Script, request: ModelCallRequest): ScriptedCall[] {
  const scripted = script.calls;
  const choice = request.toolChoice;
  if (choice === 'none') return [];
  if (typeof choice === 'object') {
    const named = scripted.find((call) => call.name === choice.name);
    return [{ name: choice.name, arguments: named?.arguments ?? '{}' }];
  }
  if (scripted.length === 0 && script.replies.length === 0) {
    const asked = askedTool(script.text, request.tools);
    if (asked) return [{ name: asked.name, arguments: argumentsFor(asked, script.text) }];
  }
  if (scripted.length === 0 && choice === 'required' && request.tools.length > 0) {
    return [{ name: request.tools[0].name, arguments: '{}' }];
  }
  return request.parallelToolCalls ? scripted : scripted.slice(0, 1);
}

/**
 * The offered tool a plain message asks for: the first whose name has a word of four letters
 * or more (`get_weather`: `weather`) that the message has as a word, in any case.
 */
function askedTool(text: string, tools: readonly ToolDefinition[]): ToolDefinition | null {
  const words = new Set(text.toLowerCase().match(/[a-z0-9]+/g) ?? []);
  return (
    tools.find((tool) =>
      tool.name
        .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .some((word) => word.length >= 4 && words.has(word)),
    ) ?? null
  );
}

/**
 * Arguments for a tool the message asked for, from its parameters: each required property
 * (every property when none is required) gets the message itself if it takes a string, else
 * the zero value of its type.
 */
function argumentsFor(tool: ToolDefinition, text: string): string {
  const schema = tool.parameters ?? {};
  const properties = (schema.properties ?? {}) as Record<string, { type?: unknown }>;
  const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
  const names = required.length > 0 ? required : Object.keys(properties);
  const zero: Record<string, unknown> = { number: 0, integer: 0, boolean: false, array: [] };
  const args = Object.fromEntries(
    names.map((name) => {
      const type = properties[name]?.type;
      if (type === 'string') return [name, text];
      return [name, typeof type === 'string' && type in zero ? zero[type] : null];
    }),
  );
  return JSON.stringify(args);
}

/** The message text, or null when the turn is only tool calls. */
function answerText(
  script: Script,
  userMessage: MessageItem | null,
  calls: ScriptedCall[],
): string | null {
  if (script.replies.length > 0) return script.replies.join('\n');
  if (calls.length > 0) return null;
  if (!userMessage) return 'Hello from the mock model.';
  return `You said: ${script.text}`;
}

function finish(
  request: ModelCallRequest,
  thoughts: string[],
  answer: string | null,
  calls: ScriptedCall[],
): ModelCallResult {
  const limit = request.maxOutputTokens;
  const truncated = answer !== null && limit !== null && estimateTokens(answer.length) > limit;
  const text = truncated ? answer.slice(0, limit * CHARS_PER_TOKEN) : answer;
  const output: ModelItem[] = [];
  if (thoughts.length > 0) output.push(reasoningItem(thoughts.join('\n')));
  if (text !== null) {
    output.push(assistantItem(text, null, truncated ? 'incomplete' : 'completed'));
  }
  for (const call of calls) {
    output.push(functionCallItem(newId('call'), call.name, call.arguments, 'completed'));
  }
  return {
    output,
    usage: estimateUsage(request, output),
    finishReason: finishReasonOf(truncated, calls.length > 0),
  };
}

function finishReasonOf(truncated: boolean, calledTools: boolean): FinishReason {
  if (truncated) return 'length';
  return calledTools ? 'tool_calls' : 'stop';
}

function estimateUsage(request: ModelCallRequest, output: readonly ModelItem[]): Usage {
  const outputChars = output.reduce((sum, item) => sum + itemChars(item), 0);
  return usageOf(estimateTokens(inputChars(request)), estimateTokens(outputChars));
}
