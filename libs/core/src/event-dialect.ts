// Two vocabularies name a few stream events differently, and strict clients throw on names
// they do not know. The event log keeps one (Open Responses' names, and ratchet's own
// `response.cancelled`); each stream is sent in the dialect its client declared:
//
// - `open_responses`, for clients that send the `OpenResponses-Version` header: raw
//   reasoning streams as `response.reasoning.delta|done`.
// - `openai`, for everyone else (the OpenAI SDKs, the Agents SDK, the AI SDK): raw reasoning
//   streams as `response.reasoning_text.delta|done`, OpenAI's names.
//
// Neither vocabulary has an event for a cancelled response, so in both a cancelled response
// ends with `response.incomplete`, carrying the Response whose status says `cancelled`.

export type EventDialect = 'openai' | 'open_responses';

/** The header Open Responses clients send (any value declares the dialect). */
export const OPEN_RESPONSES_VERSION_HEADER = 'openresponses-version';

/** The dialect a request declares by its headers. */
export function dialectOf(headers: Record<string, string | string[] | undefined>): EventDialect {
  return headers[OPEN_RESPONSES_VERSION_HEADER] === undefined ? 'openai' : 'open_responses';
}

/** Logged type -> the type each dialect sends, where they differ. */
const RENAMED: Record<EventDialect, Readonly<Record<string, string>>> = {
  openai: {
    'response.reasoning.delta': 'response.reasoning_text.delta',
    'response.reasoning.done': 'response.reasoning_text.done',
    'response.cancelled': 'response.incomplete',
  },
  open_responses: {
    'response.cancelled': 'response.incomplete',
  },
};

export interface WireEvent {
  type: string;
  /** The event's JSON text, with `type` as its first key (as the event log writes it). */
  data: string;
}

/**
 * A logged event as a client of `dialect` receives it. Renames the event, and a sub-agent
 * event's inner event, by rewriting the `"type"` member that opens each JSON object: the
 * log writes `type` first, and inside a JSON string those quotes would be escaped, so only
 * real members match.
 */
export function presentEvent<T extends WireEvent>(event: T, dialect: EventDialect): T {
  let data = event.data;
  for (const [from, to] of Object.entries(RENAMED[dialect])) {
    const member = `{"type":"${from}"`;
    if (data.includes(member)) data = data.replaceAll(member, `{"type":"${to}"`);
  }
  if (data === event.data) return event;
  return { ...event, type: RENAMED[dialect][event.type] ?? event.type, data };
}
