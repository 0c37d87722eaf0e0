import { RatchetError, withStorableRequestText } from '@ratchet/core';
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
      `Invalid value for 'type': ${JSON.stringify(type)}. WebSocket mode accepts 'response.create'.`,
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

function textOf(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(new Uint8Array(data)).toString('utf8');
}
