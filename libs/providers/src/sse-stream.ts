import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';
import { UpstreamError } from './provider';

// Reading a server-sent event stream from an upstream body, shared by the OpenAI streaming
// decoders: bytes in as they arrive, SSE events out, a dropped connection as an UpstreamError.

/**
 * The body's events in order, as they arrive. A read failure (the connection dropped, or a
 * timeout cut it) is `upstream_stream_truncated` with the read error as its cause; callers
 * that know better (an abort, a timeout) classify it themselves. A line too long to buffer is
 * a bad response. Leaving the loop early releases the connection.
 */
export async function* sseEvents(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<EventSourceMessage> {
  const events: EventSourceMessage[] = [];
  const parserFailures: ParseError[] = [];
  const parser = createParser({
    onEvent: (event) => events.push(event),
    onError: (error) => {
      // Unknown fields and bad `retry` values are harmless; only a line too long to buffer
      // leaves the parser unusable.
      if (error.type === 'max-buffer-size-exceeded') parserFailures.push(error);
    },
  });
  const utf8 = new TextDecoder();
  for await (const bytes of readStreamBody(body)) {
    // `stream: true` keeps a multi-byte character split across reads for the next read.
    parser.feed(typeof bytes === 'string' ? bytes : utf8.decode(bytes, { stream: true }));
    if (parserFailures.length > 0) {
      throw new UpstreamError('The upstream model sent an oversized stream event.', {
        code: 'upstream_bad_response',
        retryable: false,
        cause: parserFailures[0],
      });
    }
    // A final event without its blank line is incomplete by the SSE rules and never comes
    // out; the turn it would have ended then reads as cut off.
    yield* events.splice(0);
  }
}

/** A stream that ended before the turn did: trying again may get the whole turn. */
export function streamTruncatedError(cause?: unknown): UpstreamError {
  return new UpstreamError('The upstream model stream ended before the turn was complete.', {
    code: 'upstream_stream_truncated',
    retryable: true,
    cause,
  });
}

/** The body's reads, with a read failure (the connection dropped) made an UpstreamError. */
async function* readStreamBody(
  body: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<Uint8Array | string> {
  const iterator = body[Symbol.asyncIterator]();
  try {
    while (true) {
      let next: IteratorResult<Uint8Array | string>;
      try {
        next = await iterator.next();
      } catch (error) {
        // A body reader that classified its own failure (a size limit) keeps its error.
        if (error instanceof UpstreamError) throw error;
        throw new UpstreamError('The upstream model stream was cut off.', {
          code: 'upstream_stream_truncated',
          retryable: true,
          cause: error,
        });
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Leaving early (a bad event, the end of the turn, a throwing listener) must release
    // the connection.
    await iterator.return?.();
  }
}
