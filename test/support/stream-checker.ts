// A strict checker of Open Responses event streams. It reads events as plain JSON (never
// ratchet's types) so it judges what clients receive, and it knows nothing of ratchet's
// builders, so it can catch their mistakes. It returns every violation it finds, each with
// the event's position and type, so one failing test explains the whole stream.

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value)) {
    return `number ${value}`;
  }
  return typeof value;
}

const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

/** Equality as JSON sees it: keys whose value is undefined do not exist. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((value, i) => jsonEqual(value, b[i]))
    );
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keysA = Object.keys(a).filter((key) => a[key] !== undefined);
  const keysB = Object.keys(b).filter((key) => b[key] !== undefined);
  return keysA.length === keysB.length && keysA.every((key) => jsonEqual(a[key], b[key]));
}

// ---- Field checks: each returns the problems of one value, named by its path ----

type Check = (value: unknown, path: string) => string[];

const expect =
  (what: string, test: (value: unknown) => boolean): Check =>
  (value, path) =>
    test(value) ? [] : [`${path} must be ${what}, got ${describe(value)}`];

const string = expect('a string', (v) => typeof v === 'string');
const integer = expect('an integer', (v) => Number.isInteger(v));
const number = expect('a number', (v) => typeof v === 'number' && Number.isFinite(v));
const boolean = expect('a boolean', (v) => typeof v === 'boolean');
const object = expect('an object', isObject);
const array = expect('an array', (v) => Array.isArray(v));
const anything: Check = () => [];

const nullable =
  (check: Check): Check =>
  (value, path) =>
    value === null ? [] : check(value, path).map((problem) => `${problem} or null`);

const literal =
  (...allowed: string[]): Check =>
  (value, path) =>
    typeof value === 'string' && allowed.includes(value)
      ? []
      : [`${path} must be one of ${allowed.join('|')}, got ${show(value)}`];

const stringOrObject = expect('a string or an object', (v) => typeof v === 'string' || isObject(v));
const stringOrArray = expect(
  'a string or an array',
  (v) => typeof v === 'string' || Array.isArray(v),
);

function fields(
  value: unknown,
  path: string,
  required: Record<string, Check>,
  optional: Record<string, Check> = {},
): string[] {
  if (!isObject(value)) return [`${path} must be an object, got ${describe(value)}`];
  const problems: string[] = [];
  for (const [key, check] of Object.entries(required)) {
    if (!(key in value)) problems.push(`${path}.${key} is missing`);
    else problems.push(...check(value[key], `${path}.${key}`));
  }
  for (const [key, check] of Object.entries(optional)) {
    if (key in value && value[key] !== undefined)
      problems.push(...check(value[key], `${path}.${key}`));
  }
  return problems;
}

/**
 * The 31 keys of ResponseResource with their JSON types (metadata is untyped in the spec); a
 * spec test keeps this list equal to RESPONSE_RESOURCE_KEYS.
 */
export const RESPONSE_FIELDS: Record<string, Check> = {
  id: string,
  object: literal('response'),
  created_at: integer,
  completed_at: nullable(integer),
  status: literal('queued', 'in_progress', 'completed', 'failed', 'incomplete', 'cancelled'),
  incomplete_details: nullable((v, p) => fields(v, p, { reason: string })),
  model: string,
  previous_response_id: nullable(string),
  instructions: nullable(string),
  output: array,
  error: nullable((v, p) => fields(v, p, { code: string, message: string })),
  tools: array,
  tool_choice: stringOrObject,
  truncation: literal('auto', 'disabled'),
  parallel_tool_calls: boolean,
  text: (v, p) => fields(v, p, { format: object }),
  top_p: number,
  presence_penalty: number,
  frequency_penalty: number,
  top_logprobs: integer,
  temperature: number,
  reasoning: nullable((v, p) =>
    fields(v, p, { effort: nullable(string), summary: nullable(string) }),
  ),
  usage: nullable((v, p) =>
    fields(v, p, {
      input_tokens: integer,
      output_tokens: integer,
      total_tokens: integer,
      input_tokens_details: (d, q) => fields(d, q, { cached_tokens: integer }),
      output_tokens_details: (d, q) => fields(d, q, { reasoning_tokens: integer }),
    }),
  ),
  max_output_tokens: nullable(integer),
  max_tool_calls: nullable(integer),
  store: boolean,
  background: boolean,
  service_tier: string,
  metadata: anything,
  safety_identifier: nullable(string),
  prompt_cache_key: nullable(string),
};

const responseCheck: Check = (value, path) => {
  const problems = fields(value, path, RESPONSE_FIELDS);
  if (isObject(value) && Array.isArray(value.output)) {
    value.output.forEach((item, i) => problems.push(...itemCheck(item, `${path}.output[${i}]`)));
  }
  return problems;
};

const itemStatus = literal('in_progress', 'completed', 'incomplete');

const ITEM_FIELDS: Record<string, Record<string, Check>> = {
  message: {
    id: string,
    status: itemStatus,
    role: literal('user', 'assistant', 'system', 'developer'),
    content: array,
  },
  function_call: {
    id: string,
    call_id: string,
    name: string,
    arguments: string,
    status: itemStatus,
  },
  function_call_output: { id: string, call_id: string, output: stringOrArray, status: itemStatus },
  // The spec's ReasoningBody has no status; encrypted_content is a string, never null.
  reasoning: { id: string, summary: array },
  // Not in Open Responses: OpenAI's item for a call the server runs itself, which ratchet
  // uses for its own tools and agents.
  mcp_call: {
    id: string,
    server_label: string,
    name: string,
    arguments: string,
    output: nullable(string),
    error: nullable(string),
    status: literal('in_progress', 'completed', 'incomplete', 'calling', 'failed'),
  },
  // OpenAI's listing of an MCP server's tools (not in Open Responses); it has no status.
  mcp_list_tools: { id: string, server_label: string, tools: array, error: nullable(string) },
  // OpenAI's request for a human's approval of a call (not in Open Responses); no status.
  mcp_approval_request: { id: string, server_label: string, name: string, arguments: string },
};
const OPTIONAL_ITEM_FIELDS: Record<string, Record<string, Check>> = {
  reasoning: { content: array, encrypted_content: string, status: itemStatus },
  mcp_call: { call_id: string, approval_request_id: nullable(string) },
  mcp_approval_request: { agent_path: array },
};

const itemCheck: Check = (value, path) => {
  if (!isObject(value)) return [`${path} must be an item object, got ${describe(value)}`];
  const required = typeof value.type === 'string' ? ITEM_FIELDS[value.type] : undefined;
  if (!required) return [`${path}.type ${show(value.type)} is not an output item type`];
  const problems = fields(value, path, required, OPTIONAL_ITEM_FIELDS[value.type as string]);
  for (const key of ['content', 'summary'] as const) {
    const parts = value[key];
    if (Array.isArray(parts) && (value.type === 'message' || value.type === 'reasoning')) {
      parts.forEach((part, i) => problems.push(...partCheck(part, `${path}.${key}[${i}]`)));
    }
  }
  return problems;
};

const PART_FIELDS: Record<string, Record<string, Check>> = {
  output_text: { text: string, annotations: array },
  refusal: { refusal: string },
  input_text: { text: string },
  text: { text: string },
  summary_text: { text: string },
  reasoning_text: { text: string },
  input_image: { image_url: nullable(string), detail: string },
  input_file: {},
};

const partCheck: Check = (value, path) => {
  if (!isObject(value)) return [`${path} must be a content part, got ${describe(value)}`];
  const required = typeof value.type === 'string' ? PART_FIELDS[value.type] : undefined;
  if (!required) return [`${path}.type ${show(value.type)} is not a content part type`];
  return fields(value, path, required, value.type === 'output_text' ? { logprobs: array } : {});
};

const annotationCheck: Check = (value, path) =>
  fields(value, path, {
    type: literal('url_citation'),
    url: string,
    start_index: integer,
    end_index: integer,
    title: string,
  });

const errorPayloadCheck: Check = (value, path) =>
  fields(value, path, {
    type: string,
    code: nullable(string),
    message: string,
    param: nullable(string),
  });

// ---- The events the checker knows, with their required and optional fields ----

const inItem = { item_id: string, output_index: integer };
const inContent = { ...inItem, content_index: integer };
const inSummary = { ...inItem, summary_index: integer };
const obfuscation = { obfuscation: string };

const EVENT_FIELDS: Record<string, [Record<string, Check>, Record<string, Check>?]> = {
  'response.created': [{ response: responseCheck }],
  'response.queued': [{ response: responseCheck }],
  'response.in_progress': [{ response: responseCheck }],
  'response.completed': [{ response: responseCheck }],
  'response.failed': [{ response: responseCheck }],
  'response.incomplete': [{ response: responseCheck }],
  'response.cancelled': [{ response: responseCheck }],
  // The spec lets item be null; a null item cannot be followed through the stream, so the
  // checker requires the item (ratchet always knows it).
  'response.output_item.added': [{ output_index: integer, item: itemCheck }],
  'response.output_item.done': [{ output_index: integer, item: itemCheck }],
  'response.content_part.added': [{ ...inContent, part: partCheck }],
  'response.content_part.done': [{ ...inContent, part: partCheck }],
  'response.output_text.delta': [
    { ...inContent, delta: string },
    { logprobs: array, ...obfuscation },
  ],
  'response.output_text.done': [{ ...inContent, text: string }, { logprobs: array }],
  'response.output_text.annotation.added': [
    { ...inContent, annotation_index: integer, annotation: nullable(annotationCheck) },
  ],
  'response.refusal.delta': [{ ...inContent, delta: string }],
  'response.refusal.done': [{ ...inContent, refusal: string }],
  'response.reasoning.delta': [{ ...inContent, delta: string }, obfuscation],
  'response.reasoning.done': [{ ...inContent, text: string }],
  // OpenAI's names for the same two events.
  'response.reasoning_text.delta': [{ ...inContent, delta: string }, obfuscation],
  'response.reasoning_text.done': [{ ...inContent, text: string }],
  'response.reasoning_summary_part.added': [{ ...inSummary, part: partCheck }],
  'response.reasoning_summary_part.done': [{ ...inSummary, part: partCheck }],
  'response.reasoning_summary_text.delta': [{ ...inSummary, delta: string }, obfuscation],
  'response.reasoning_summary_text.done': [{ ...inSummary, text: string }],
  'response.function_call_arguments.delta': [{ ...inItem, delta: string }, obfuscation],
  'response.function_call_arguments.done': [{ ...inItem, arguments: string }, { name: string }],
  // OpenAI's events for a call the server runs itself (not in Open Responses).
  'response.mcp_call_arguments.delta': [{ ...inItem, delta: string }, obfuscation],
  'response.mcp_call_arguments.done': [{ ...inItem, arguments: string }],
  'response.mcp_call.in_progress': [inItem],
  'response.mcp_call.completed': [inItem],
  'response.mcp_call.failed': [inItem],
  'response.mcp_list_tools.in_progress': [inItem],
  'response.mcp_list_tools.completed': [inItem],
  'response.mcp_list_tools.failed': [inItem],
  error: [{ error: errorPayloadCheck }],
};

const TERMINAL_TYPES = [
  'response.completed',
  'response.failed',
  'response.incomplete',
  'response.cancelled',
];

/** Response statuses each lifecycle event may carry. */
const STATUSES_OF: Record<string, readonly string[]> = {
  'response.created': ['queued', 'in_progress'],
  'response.queued': ['queued'],
  'response.in_progress': ['in_progress'],
  'response.completed': ['completed'],
  'response.failed': ['failed'],
  // A cancelled response ends with response.incomplete on the wire (no vocabulary has an
  // event for it); the event log keeps ratchet's own response.cancelled.
  'response.incomplete': ['incomplete', 'cancelled'],
  'response.cancelled': ['cancelled'],
};

type PartArea = 'content' | 'summary';

/** How each text event family maps to its part: area, part type, and the done event's field. */
const TEXT_EVENTS: Record<
  string,
  { area: PartArea; kind: string; phase: 'delta' | 'done'; field: string }
> = {
  'response.output_text.delta': {
    area: 'content',
    kind: 'output_text',
    phase: 'delta',
    field: 'delta',
  },
  'response.output_text.done': {
    area: 'content',
    kind: 'output_text',
    phase: 'done',
    field: 'text',
  },
  'response.refusal.delta': { area: 'content', kind: 'refusal', phase: 'delta', field: 'delta' },
  'response.refusal.done': { area: 'content', kind: 'refusal', phase: 'done', field: 'refusal' },
  'response.reasoning.delta': {
    area: 'content',
    kind: 'reasoning_text',
    phase: 'delta',
    field: 'delta',
  },
  'response.reasoning.done': {
    area: 'content',
    kind: 'reasoning_text',
    phase: 'done',
    field: 'text',
  },
  'response.reasoning_text.delta': {
    area: 'content',
    kind: 'reasoning_text',
    phase: 'delta',
    field: 'delta',
  },
  'response.reasoning_text.done': {
    area: 'content',
    kind: 'reasoning_text',
    phase: 'done',
    field: 'text',
  },
  'response.reasoning_summary_text.delta': {
    area: 'summary',
    kind: 'summary_text',
    phase: 'delta',
    field: 'delta',
  },
  'response.reasoning_summary_text.done': {
    area: 'summary',
    kind: 'summary_text',
    phase: 'done',
    field: 'text',
  },
};

/** Part types whose text streams as deltas; their parts must open empty. */
const TEXT_KINDS: Record<string, string> = {
  output_text: 'text',
  refusal: 'refusal',
  reasoning_text: 'text',
  summary_text: 'text',
};

const TEXT_EVENT_NAME: Record<string, string> = {
  output_text: 'response.output_text',
  refusal: 'response.refusal',
  reasoning_text: 'response.reasoning',
  summary_text: 'response.reasoning_summary_text',
};

interface PartTrack {
  kind: string;
  deltas: string;
  doneText: string | null;
  annotations: number;
  donePart: unknown;
  closed: boolean;
}

interface ItemTrack {
  outputIndex: number;
  id: string;
  type: string;
  name: unknown;
  content: PartTrack[];
  summary: PartTrack[];
  openPart: { area: PartArea; index: number } | null;
  argumentDeltas: string;
  argumentsDone: string | null;
  /** A server call's run: started (mcp_call.in_progress), then how it ended. */
  call: 'pending' | 'running' | 'completed' | 'failed';
  doneItem: JsonObject | null;
}

/** Checks a whole stream of events (parsed JSON); returns its violations, none if valid. */
export function checkStream(
  events: readonly unknown[],
  options: { dialect?: EventDialect } = {},
): string[] {
  const violations = new StreamChecker().check(events);
  return options.dialect
    ? [...violations, ...dialectViolations(events, options.dialect)]
    : violations;
}

/** How a client names events (libs/core/src/event-dialect.ts); restated, not imported. */
export type EventDialect = 'openai' | 'open_responses';

/** Event names a client of each dialect must never receive. */
const FOREIGN_TYPES: Record<EventDialect, readonly string[]> = {
  openai: ['response.reasoning.delta', 'response.reasoning.done', 'response.cancelled'],
  open_responses: [
    'response.reasoning_text.delta',
    'response.reasoning_text.done',
    'response.cancelled',
  ],
};

function dialectViolations(events: readonly unknown[], dialect: EventDialect): string[] {
  const problems: string[] = [];
  events.forEach((event, index) => {
    const types = [event, isObject(event) ? event.event : undefined].map((value) =>
      isObject(value) && typeof value.type === 'string' ? value.type : undefined,
    );
    for (const type of types) {
      if (type && FOREIGN_TYPES[dialect].includes(type)) {
        problems.push(`#${index} ${type}: not an event name of the ${dialect} dialect`);
      }
    }
  });
  return problems;
}

class StreamChecker {
  private readonly violations: string[] = [];
  private readonly items = new Map<number, ItemTrack>();
  private readonly itemIds = new Set<string>();
  private previousSequence: number | undefined;
  private responseId: unknown;
  private queued = false;
  private inProgress = false;
  private outputBegan = false;
  private terminal: { index: number; type: string } | undefined;
  private errorAt: number | undefined;
  private label = '';

  check(events: readonly unknown[]): string[] {
    if (events.length === 0) return ['the stream has no events'];
    events.forEach((event, index) => this.visit(event, index));
    this.label = '';
    const after = this.terminal ? events.length - this.terminal.index - 1 : 0;
    if (this.terminal && after > 0) {
      const next = events[this.terminal.index + 1];
      const nextType = isObject(next) && typeof next.type === 'string' ? next.type : show(next);
      this.report(
        `${after} event(s) after the terminal event #${this.terminal.index} ${this.terminal.type}, the first #${this.terminal.index + 1} ${nextType}`,
      );
    }
    if (!this.terminal) {
      this.report(`the stream has no terminal event (${TERMINAL_TYPES.join('|')})`);
      for (const track of this.items.values()) {
        if (track.doneItem) continue;
        this.report(
          `item ${track.id} (output_index ${track.outputIndex}) never got output_item.done`,
        );
      }
    } else if (this.errorAt !== undefined && this.terminal.type !== 'response.failed') {
      this.report(
        `#${this.errorAt} error: an error event must be followed by response.failed, got ${this.terminal.type}`,
      );
    }
    return this.violations;
  }

  private report(problem: string): void {
    this.violations.push(this.label ? `${this.label}: ${problem}` : problem);
  }

  private visit(event: unknown, index: number): void {
    const type = isObject(event) && typeof event.type === 'string' ? event.type : undefined;
    this.label = `#${index} ${type ?? show(isObject(event) ? event.type : event)}`;
    if (!isObject(event) || type === undefined) {
      this.report('an event must be an object with a string type');
      return;
    }
    this.checkSequence(event.sequence_number, index);
    if (index === 0 && type !== 'response.created') {
      this.report('the first event must be response.created');
    }
    // Events after the terminal one are reported once, together, by check().
    if (this.terminal) return;
    // Extension events (Open Responses lets implementations add their own, under their own
    // prefix) are numbered like the rest; clients that do not know them skip them.
    if (type.startsWith('ratchet:')) return;
    const spec = EVENT_FIELDS[type];
    if (!spec) {
      this.report('not an Open Responses event type');
      return;
    }
    const problems = fields(event, 'event', spec[0], spec[1]);
    problems.forEach((problem) => this.report(problem));
    // Order rules need well-formed fields; a malformed event is reported once, above.
    if (problems.length > 0) {
      if (TERMINAL_TYPES.includes(type)) this.terminal = { index, type };
      return;
    }
    this.checkOrder(event, type, index);
  }

  private checkSequence(sequence: unknown, index: number): void {
    if (!Number.isInteger(sequence)) {
      this.report(`sequence_number must be an integer, got ${describe(sequence)}`);
      return;
    }
    const number = sequence as number;
    const previous = this.previousSequence;
    if (previous === undefined) {
      if (index === 0 && number !== 0)
        this.report(`sequence_number must start at 0, got ${number}`);
    } else if (number === previous) {
      this.report(`duplicate sequence_number ${number}`);
    } else if (number < previous) {
      this.report(`sequence_number ${number} is lower than the previous ${previous}`);
    } else if (number !== previous + 1) {
      this.report(
        `gap in sequence_number: ${previous} is followed by ${number}, expected ${previous + 1}`,
      );
    }
    this.previousSequence = number;
  }

  private checkOrder(event: JsonObject, type: string, index: number): void {
    if (type in STATUSES_OF) {
      this.checkLifecycle(event, type, index);
      return;
    }
    if (type === 'error') {
      this.errorAt ??= index;
      return;
    }
    this.outputBegan = true;
    switch (type) {
      case 'response.output_item.added':
        return this.itemAdded(event.output_index as number, event.item as JsonObject);
      case 'response.output_item.done':
        return this.itemDone(event.output_index as number, event.item as JsonObject);
      case 'response.content_part.added':
      case 'response.reasoning_summary_part.added':
        return this.partAdded(
          event,
          type === 'response.content_part.added' ? 'content' : 'summary',
        );
      case 'response.content_part.done':
      case 'response.reasoning_summary_part.done':
        return this.partDone(event, type === 'response.content_part.done' ? 'content' : 'summary');
      case 'response.output_text.annotation.added':
        return this.annotationAdded(event);
      case 'response.function_call_arguments.delta':
      case 'response.function_call_arguments.done':
        return this.argumentsEvent(event, 'function_call', type.endsWith('.done'));
      case 'response.mcp_call_arguments.delta':
      case 'response.mcp_call_arguments.done':
        return this.argumentsEvent(event, 'mcp_call', type.endsWith('.done'));
      case 'response.mcp_call.in_progress':
      case 'response.mcp_call.completed':
      case 'response.mcp_call.failed':
        return this.callEvent(event, type.slice('response.mcp_call.'.length));
      case 'response.mcp_list_tools.in_progress':
      case 'response.mcp_list_tools.completed':
      case 'response.mcp_list_tools.failed':
        return this.listingEvent(event, type.slice('response.mcp_list_tools.'.length));
      default:
        return this.textEvent(event, TEXT_EVENTS[type]);
    }
  }

  private checkLifecycle(event: JsonObject, type: string, index: number): void {
    const response = event.response as JsonObject;
    if (!STATUSES_OF[type].includes(response.status as string)) {
      this.report(
        `response.status is ${show(response.status)}, expected ${STATUSES_OF[type].join(' or ')}`,
      );
    }
    if (index === 0) this.responseId = response.id;
    else if (response.id !== this.responseId) {
      this.report(
        `response.id ${show(response.id)} differs from the stream's ${show(this.responseId)}`,
      );
    }
    switch (type) {
      case 'response.created':
        if (index !== 0) this.report('response.created must be the first event and only once');
        return;
      case 'response.queued':
        if (this.queued) this.report('more than one response.queued');
        if (this.inProgress) this.report('response.queued after response.in_progress');
        if (this.outputBegan) this.report('response.queued after output events');
        this.queued = true;
        return;
      case 'response.in_progress':
        if (this.inProgress) this.report('more than one response.in_progress');
        if (this.outputBegan) this.report('response.in_progress after output events');
        this.inProgress = true;
        return;
      default:
        this.terminal = { index, type };
        this.checkTerminal(response, type);
    }
  }

  private checkTerminal(response: JsonObject, type: string): void {
    if (type === 'response.completed' && response.completed_at === null) {
      this.report('a completed response must have completed_at');
    }
    for (const track of this.items.values()) {
      if (!track.doneItem) {
        this.report(`item ${track.id} (output_index ${track.outputIndex}) is still open`);
      }
    }
    const output = response.output as unknown[];
    const inOutput = new Set(output.map((item) => (isObject(item) ? item.id : undefined)));
    // A model attempt that died mid-stream closed its item incomplete and was retried; the
    // response's output holds only the successful attempt (DESIGN.md "Events").
    const expected = [...this.items.values()]
      .sort((a, b) => a.outputIndex - b.outputIndex)
      .flatMap((track) => (track.doneItem ? [track.doneItem] : []))
      .filter((item) => item.status !== 'incomplete' || inOutput.has(item.id));
    if (jsonEqual(output, expected)) return;
    const ids = (items: unknown[]): string =>
      show(items.map((item) => (isObject(item) ? item.id : item)));
    if (output.length !== expected.length || ids(output) !== ids(expected)) {
      this.report(
        `response.output ${ids(output)} is not the output_item.done items in output_index order ${ids(expected)}`,
      );
      return;
    }
    output.forEach((item, i) => {
      if (!jsonEqual(item, expected[i])) {
        this.report(
          `response.output[${i}] differs from its output_item.done item: ${show(item)} vs ${show(expected[i])}`,
        );
      }
    });
  }

  private itemAdded(outputIndex: number, item: JsonObject): void {
    const id = item.id as string;
    const existing = this.items.get(outputIndex);
    if (existing) {
      this.report(`output_index ${outputIndex} is reused (item ${existing.id} already has it)`);
      return;
    }
    if (outputIndex !== this.items.size) {
      this.report(
        `output_index ${outputIndex} is out of order: expected ${this.items.size} (indexes run 0..n-1 in order of first appearance)`,
      );
    }
    if (this.itemIds.has(id)) this.report(`item id ${id} was already added`);
    if ('status' in item && item.status !== 'in_progress') {
      this.report(
        `output_item.added must carry an in_progress item, got status ${show(item.status)}`,
      );
    }
    const emptyList = (key: string): boolean =>
      !Array.isArray(item[key]) || (item[key] as unknown[]).length === 0;
    if (item.type === 'message' && !emptyList('content')) {
      this.report(
        'output_item.added must carry the message with empty content (parts stream after it)',
      );
    }
    if (item.type === 'reasoning' && (!emptyList('summary') || !emptyList('content'))) {
      this.report('output_item.added must carry the reasoning item with empty summary and content');
    }
    if ((item.type === 'function_call' || item.type === 'mcp_call') && item.arguments !== '') {
      this.report(`output_item.added must carry the ${item.type} with empty arguments`);
    }
    if (item.type === 'mcp_call' && (item.output !== null || item.error !== null)) {
      this.report('output_item.added must carry the mcp_call without output or error');
    }
    this.itemIds.add(id);
    this.items.set(outputIndex, {
      outputIndex,
      id,
      type: item.type as string,
      name: item.name,
      content: [],
      summary: [],
      openPart: null,
      argumentDeltas: '',
      argumentsDone: null,
      call: 'pending',
      doneItem: null,
    });
  }

  /** The open item an item-level event addresses, or undefined (reported) if there is none. */
  private openItem(event: JsonObject): ItemTrack | undefined {
    const outputIndex = event.output_index as number;
    const track = this.items.get(outputIndex);
    if (!track) {
      this.report(`no item was added at output_index ${outputIndex}`);
      return undefined;
    }
    if (event.item_id !== track.id) {
      this.report(
        `item_id ${show(event.item_id)} is not the item at output_index ${outputIndex} (${track.id})`,
      );
      return undefined;
    }
    if (track.doneItem) {
      this.report(`item ${track.id} already got output_item.done`);
      return undefined;
    }
    return track;
  }

  private partAdded(event: JsonObject, area: PartArea): void {
    const track = this.openItem(event);
    if (!track) return;
    const part = event.part as JsonObject;
    const indexField = area === 'content' ? 'content_index' : 'summary_index';
    const index = event[indexField] as number;
    const list = track[area];
    const allowed =
      area === 'summary'
        ? track.type === 'reasoning' && part.type === 'summary_text'
        : (track.type === 'message' &&
            part.type !== 'reasoning_text' &&
            part.type !== 'summary_text') ||
          (track.type === 'reasoning' && part.type === 'reasoning_text');
    if (!allowed) this.report(`a ${show(part.type)} part cannot be added to a ${track.type} item`);
    if (index !== list.length) {
      this.report(`${indexField} ${index} is out of order: expected ${list.length}`);
      return;
    }
    if (track.openPart) {
      this.report(
        `part ${index} opens while ${track.openPart.area} part ${track.openPart.index} of item ${track.id} is still open`,
      );
    }
    const textField = TEXT_KINDS[part.type as string];
    if (textField && part[textField] !== '') {
      this.report(`a ${part.type as string} part must open empty; its text arrives in deltas`);
    }
    list.push({
      kind: part.type as string,
      deltas: '',
      doneText: null,
      annotations: 0,
      donePart: null,
      closed: false,
    });
    track.openPart = { area, index };
  }

  /** The open part a part-level event addresses, or undefined (reported). */
  private openPartOf(event: JsonObject, area: PartArea, track: ItemTrack): PartTrack | undefined {
    const indexField = area === 'content' ? 'content_index' : 'summary_index';
    const index = event[indexField] as number;
    const part = track[area][index];
    if (!part) {
      this.report(`${indexField} ${index} of item ${track.id} was never added`);
      return undefined;
    }
    if (part.closed) {
      this.report(`${area} part ${index} of item ${track.id} is already done`);
      return undefined;
    }
    return part;
  }

  private textEvent(event: JsonObject, family: (typeof TEXT_EVENTS)[string]): void {
    const track = this.openItem(event);
    if (!track) return;
    const part = this.openPartOf(event, family.area, track);
    if (!part) return;
    const eventName = `${TEXT_EVENT_NAME[family.kind]}.${family.phase}`;
    if (part.kind !== family.kind) {
      this.report(`${eventName} on a ${part.kind} part`);
      return;
    }
    const value = event[family.field] as string;
    if (part.doneText !== null) {
      this.report(`${eventName} after ${TEXT_EVENT_NAME[family.kind]}.done`);
      return;
    }
    if (family.phase === 'delta') {
      part.deltas += value;
      return;
    }
    if (value !== part.deltas) {
      this.report(
        `${family.field} ${show(value)} is not the concatenation of its deltas ${show(part.deltas)}`,
      );
    }
    part.doneText = value;
  }

  private annotationAdded(event: JsonObject): void {
    const track = this.openItem(event);
    if (!track) return;
    const part = this.openPartOf(event, 'content', track);
    if (!part) return;
    if (part.kind !== 'output_text') {
      this.report(`annotations belong to output_text parts, not ${part.kind}`);
      return;
    }
    if (event.annotation_index !== part.annotations) {
      this.report(
        `annotation_index ${show(event.annotation_index)} is out of order: expected ${part.annotations}`,
      );
    }
    part.annotations += 1;
  }

  private partDone(event: JsonObject, area: PartArea): void {
    const track = this.openItem(event);
    if (!track) return;
    const part = this.openPartOf(event, area, track);
    if (!part) return;
    const donePart = event.part as JsonObject;
    if (donePart.type !== part.kind) {
      this.report(`the part was added as ${part.kind} but is done as ${show(donePart.type)}`);
    }
    const textField = TEXT_KINDS[part.kind];
    if (textField) {
      if (part.doneText === null) {
        this.report(`${area} part done before ${TEXT_EVENT_NAME[part.kind]}.done`);
      } else if (donePart[textField] !== part.doneText) {
        this.report(
          `part.${textField} ${show(donePart[textField])} differs from ${TEXT_EVENT_NAME[part.kind]}.done's ${show(part.doneText)}`,
        );
      }
    }
    if (
      part.kind === 'output_text' &&
      Array.isArray(donePart.annotations) &&
      donePart.annotations.length !== part.annotations
    ) {
      this.report(
        `part has ${donePart.annotations.length} annotations but ${part.annotations} were added`,
      );
    }
    part.closed = true;
    part.donePart = donePart;
    track.openPart = null;
  }

  private argumentsEvent(event: JsonObject, type: string, done: boolean): void {
    const track = this.openItem(event);
    if (!track) return;
    const family = `${type}_arguments`;
    const name = `${family}.${done ? 'done' : 'delta'}`;
    if (track.type !== type) {
      this.report(`${name} for a ${track.type} item`);
      return;
    }
    if (track.argumentsDone !== null) {
      this.report(`${name} after ${family}.done`);
      return;
    }
    if (!done) {
      track.argumentDeltas += event.delta as string;
      return;
    }
    if (event.arguments !== track.argumentDeltas) {
      this.report(
        `arguments ${show(event.arguments)} are not the concatenation of its deltas ${show(track.argumentDeltas)}`,
      );
    }
    if ('name' in event && event.name !== track.name) {
      this.report(`name ${show(event.name)} is not the call's name ${show(track.name)}`);
    }
    track.argumentsDone = event.arguments as string;
  }

  /** mcp_call.in_progress once its arguments are done, then at most one completed or failed. */
  private callEvent(event: JsonObject, phase: string): void {
    const track = this.openItem(event);
    if (!track) return;
    const name = `mcp_call.${phase}`;
    if (track.type !== 'mcp_call') {
      this.report(`${name} for a ${track.type} item`);
      return;
    }
    if (phase === 'in_progress') {
      if (track.argumentsDone === null) this.report(`${name} before mcp_call_arguments.done`);
      if (track.call !== 'pending') this.report(`${name} for a call that already started`);
      track.call = 'running';
      return;
    }
    if (track.call !== 'running') {
      this.report(`${name} for a call that is not running (${track.call})`);
      return;
    }
    track.call = phase as 'completed' | 'failed';
  }

  /** mcp_list_tools.in_progress once, then one completed or failed, as its item ends. */
  private listingEvent(event: JsonObject, phase: string): void {
    const track = this.openItem(event);
    if (!track) return;
    const name = `mcp_list_tools.${phase}`;
    if (track.type !== 'mcp_list_tools') {
      this.report(`${name} for a ${track.type} item`);
      return;
    }
    if (phase === 'in_progress') {
      if (track.call !== 'pending') this.report(`${name} for a listing that already started`);
      track.call = 'running';
      return;
    }
    if (track.call !== 'running') {
      this.report(`${name} for a listing that is not running (${track.call})`);
      return;
    }
    track.call = phase as 'completed' | 'failed';
  }

  private itemDone(outputIndex: number, item: JsonObject): void {
    const track = this.openItem({ output_index: outputIndex, item_id: item.id });
    if (!track) return;
    if (item.type !== track.type)
      this.report(`item was added as ${track.type} but is done as ${show(item.type)}`);
    if (item.status === 'in_progress')
      this.report('output_item.done must carry a finished item, got status in_progress');
    if (track.openPart) {
      this.report(
        `item ${track.id} is done while its ${track.openPart.area} part ${track.openPart.index} is still open`,
      );
    }
    const compareParts = (key: PartArea, list: unknown): void => {
      const streamed = track[key].map((part) => part.donePart);
      const finished = Array.isArray(list) ? list : [];
      if (!jsonEqual(finished, streamed)) {
        this.report(
          `item.${key} ${show(finished)} is not the parts streamed for it ${show(streamed)}`,
        );
      }
    };
    switch (track.type) {
      case 'message':
        compareParts('content', item.content);
        break;
      case 'reasoning':
        compareParts('summary', item.summary);
        compareParts('content', item.content);
        break;
      case 'function_call':
      case 'mcp_call':
        if (track.argumentsDone === null) {
          this.report(`${track.type} ${track.id} is done without ${track.type}_arguments.done`);
        } else if (item.arguments !== track.argumentsDone) {
          this.report(
            `item.arguments ${show(item.arguments)} differ from ${track.type}_arguments.done's ${show(track.argumentsDone)}`,
          );
        }
        if (track.type === 'mcp_call') this.checkCallEnd(track, item);
        break;
      case 'mcp_list_tools': {
        const ended = item.error === null ? 'completed' : 'failed';
        if (track.call !== ended) {
          this.report(
            `mcp_list_tools ${track.id} is done ${ended === 'completed' ? 'without' : 'with'} an error, but its events say ${track.call}`,
          );
        }
        break;
      }
    }
    track.doneItem = item;
    track.openPart = null;
  }

  /** A finished mcp_call says what its events said: completed, failed, or never finished. */
  private checkCallEnd(track: ItemTrack, item: JsonObject): void {
    const ran = track.call === 'completed' || track.call === 'failed';
    const expected = ran ? track.call : 'incomplete';
    if (item.status !== expected) {
      this.report(
        `mcp_call ${track.id} is done with status ${show(item.status)}, but its events say ${expected}`,
      );
    }
    if (item.status === 'completed' && typeof item.output !== 'string') {
      this.report(`completed mcp_call ${track.id} has no output`);
    }
    if (item.status === 'failed' && typeof item.error !== 'string') {
      this.report(`failed mcp_call ${track.id} has no error`);
    }
  }
}

// ---- Server-sent events ----

export interface SseParseResult {
  /** The JSON payload of every event before `data: [DONE]`. */
  events: unknown[];
  violations: string[];
}

/**
 * Parses a raw text/event-stream body the way the EventSource spec does (eventsource-parser
 * is not installed, and the framing is small): lines end in CRLF, LF or CR; a blank line ends
 * an event; `:` lines are comments (heartbeats). Checks the Open Responses framing: `event:`
 * equals data.type, one `data:` line per event (the compliance parser keeps only the last),
 * and the stream ends with `data: [DONE]`.
 */
export function eventsFromSse(text: string): SseParseResult {
  const events: unknown[] = [];
  const violations: string[] = [];
  let name: string | undefined;
  let data: string[] = [];
  let count = 0;
  let done = false;

  const dispatch = (): void => {
    const eventName = name;
    const lines = data;
    name = undefined;
    data = [];
    if (lines.length === 0) {
      if (eventName !== undefined) violations.push(`SSE event '${eventName}' has no data line`);
      return;
    }
    const label = `SSE event #${count++}`;
    if (done) {
      violations.push(`${label}: sent after data: [DONE]`);
      return;
    }
    if (lines.length > 1) {
      violations.push(`${label}: data spans ${lines.length} lines; send each JSON payload on one`);
    }
    const payload = lines.join('\n');
    if (payload === '[DONE]') {
      done = true;
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload);
    } catch {
      violations.push(`${label}: data is not JSON: ${payload.slice(0, 80)}`);
      return;
    }
    const type = isObject(parsed) ? parsed.type : undefined;
    if (eventName === undefined) {
      violations.push(`${label}: no event: line (it must equal data.type ${show(type)})`);
    } else if (eventName !== type) {
      violations.push(`${label}: event: '${eventName}' does not equal data.type ${show(type)}`);
    }
    events.push(parsed);
  };

  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === '') {
      dispatch();
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
    // id and retry are legal (the spec only advises against id); other fields are ignored,
    // as EventSource ignores them.
  }
  if (name !== undefined || data.length > 0) {
    // EventSource drops an event that no blank line ends.
    violations.push('the body ends inside an event (no blank line after it), which clients drop');
  }
  if (!done) violations.push('the stream does not end with data: [DONE]');
  return { events, violations };
}

/** Checks a raw SSE body: its framing, then the events it carries, named as `dialect` names them. */
export function checkSse(text: string, dialect: EventDialect = 'openai'): string[] {
  const { events, violations } = eventsFromSse(text);
  return [...violations, ...checkStream(events, { dialect })];
}

/** Writes events as an SSE body the way the spec frames them, ending with [DONE]. */
export function sseBody(events: readonly unknown[]): string {
  const frame = (event: unknown): string => {
    const type = isObject(event) ? String(event.type) : '';
    return `event: ${type}\ndata: ${JSON.stringify(event)}\n\n`;
  };
  return events.map(frame).join('') + 'data: [DONE]\n\n';
}
