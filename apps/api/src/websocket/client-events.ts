import {
  findBodyProblem,
  MAX_BODY_DEPTH,
  RatchetError,
  withStorableRequestText,
} from '@ratchet/core';
import type { RawData } from 'ws';

/**
 * Fields of the HTTP create body that WebSocket mode has no use for (the spec says clients
 * MUST NOT send them): every response streams on the socket, and every response runs to its
 * end whatever the socket does. Refusing them says so, where ignoring them would mislead.
 */
const TRANSPORT_FIELDS = {
  stream:
    "'stream' is not used in WebSocket mode: every response streams its events on the socket.",
  background:
    "'background' is not used in WebSocket mode: a response runs to its end even if the socket closes, and a stored one can be retrieved over HTTP.",
} as const;

/**
 * Reads a client message, `{"type": "response.create", ...the create body}`, into the body
 * the create path takes (streamed). Anything else is an invalid_request error naming what
 * is wrong.
 */
export function parseResponseCreate(data: RawData, isBinary: boolean): Record<string, unknown> {
  if (isBinary) {
    throw RatchetError.invalid(
      'WebSocket messages must be text frames holding a JSON object.',
      null,
      'invalid_message',
    );
  }
  let message: unknown;
  try {
    message = withStorableRequestText(JSON.parse(textOf(data)));
  } catch (error) {
    throw RatchetError.invalid(
      `We could not parse the JSON of your message: ${(error as Error).message}.`,
      null,
      'invalid_json',
    );
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    throw RatchetError.invalid(
      'A message must be a JSON object such as {"type": "response.create", "model": ..., "input": ...}.',
      null,
      'invalid_message',
    );
  }
  // Before anything reads it: a message nested deeper than any body may be would overflow
  // the stack of whatever walks it recursively (JSON.stringify included).
  const problem = findBodyProblem(message);
  if (problem?.problem === 'too_deep') {
    throw RatchetError.invalid(
      `Invalid value for '${problem.param || 'message'}': JSON may nest at most ${MAX_BODY_DEPTH} levels deep.`,
      problem.param || null,
      'invalid_value',
    );
  }
  const { type, ...body } = message as Record<string, unknown>;
  if (type === undefined) {
    throw RatchetError.invalid(
      "Missing required parameter: 'type'.",
      'type',
      'missing_required_parameter',
    );
  }
  if (type !== 'response.create') {
    throw RatchetError.invalid(
      `Invalid value for 'type': ${shownType(type)}. WebSocket mode accepts 'response.create'.`,
      'type',
      'invalid_value',
    );
  }
  for (const [field, why] of Object.entries(TRANSPORT_FIELDS)) {
    if (body[field] !== undefined && body[field] !== null) {
      throw RatchetError.invalid(why, field, 'unsupported_parameter');
    }
  }
  return { ...body, stream: true };
}

/** The `type` a client sent, as an error message may show it: strings cut short, others named. */
function shownType(type: unknown): string {
  if (typeof type === 'string') return JSON.stringify(type.slice(0, 100));
  if (type === null) return 'null';
  return Array.isArray(type)
    ? 'an array'
    : typeof type === 'object'
      ? 'an object'
      : `a ${typeof type}`;
}

function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(new Uint8Array(data)).toString('utf8');
}
