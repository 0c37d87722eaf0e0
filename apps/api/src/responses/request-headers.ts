import { RatchetError } from '@ratchet/core';

/** What GET /v1/responses/{id} was asked for: the response, or its event stream from a cursor. */
export type RetrieveMode = { stream: false } | { stream: true; after: number };

const CURSOR = /^\d{1,9}$/;

/**
 * Reads `stream`, `starting_after` and the `Last-Event-ID` header (the cursor an EventSource
 * sends when it reconnects). `starting_after` wins when both are given.
 */
export function parseRetrieveQuery(
  query: Record<string, unknown>,
  lastEventId: string | undefined,
): RetrieveMode {
  const stream = query.stream;
  if (stream !== undefined && stream !== 'true' && stream !== 'false') {
    throw RatchetError.invalid(
      `Invalid value for 'stream': expected true or false, got ${shown(stream)}.`,
      'stream',
      'invalid_value',
    );
  }
  const startingAfter = cursor(query.starting_after, 'starting_after');
  if (stream !== 'true') {
    if (startingAfter !== null) {
      throw RatchetError.invalid(
        "'starting_after' is only valid with stream=true.",
        'starting_after',
        'invalid_value',
      );
    }
    return { stream: false };
  }
  const after = startingAfter ?? cursor(lastEventId, 'Last-Event-ID') ?? -1;
  return { stream: true, after };
}

function cursor(value: unknown, param: string): number | null {
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string' || !CURSOR.test(value)) {
    throw RatchetError.invalid(
      `Invalid value for '${param}': expected the sequence_number of an event (an integer of at least 0), got ${shown(value)}.`,
      param,
      'invalid_value',
    );
  }
  return Number(value);
}

/** The Idempotency-Key header: absent, or 1-255 visible ASCII characters. */
export function parseIdempotencyKey(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw RatchetError.invalid(
      'Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).',
      'Idempotency-Key',
      'invalid_value',
    );
  }
  return value;
}

/** A query value as the error message shows it (repeated parameters arrive as arrays). */
function shown(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}
