import { HttpException, type Logger } from '@nestjs/common';
import { RatchetError } from '@ratchet/core';
import { isDatabaseUnavailable } from '@ratchet/store';
import { newRequestId } from '../http/request-id';
import { errorBody, statusOfKind, type ErrorBody } from './error-body';

/**
 * What a failed request answers, whatever carried it (an HTTP exchange or a WebSocket
 * message): domain errors map by kind; Nest's HTTP exceptions keep their status; anything
 * else is a 500 with an opaque message and a request id that is also logged with the whole
 * error. `where` names the request in logs and messages (`POST /v1/responses`), and
 * `requestId` (its `x-request-id`) ties the answer to the log lines.
 */
export function describeError(
  exception: unknown,
  where: string,
  logger: Logger,
  requestId: string = newRequestId(),
): [number, ErrorBody] {
  if (exception instanceof RatchetError) {
    const status = statusOfKind[exception.kind];
    return [status, errorBody(status, exception.message, exception.param, exception.code)];
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const message = status === 404 ? `Unknown request URL: ${where}.` : exception.message;
    return [status, errorBody(status, message)];
  }
  if (isUnstorableText(exception)) {
    // Text Postgres cannot hold (a NUL character), from a path or query the body checks did
    // not see: the request's fault, not the server's.
    return [
      400,
      errorBody(
        400,
        'The request has text that cannot be stored: it contains a NUL character (\\u0000).',
        null,
        'invalid_value',
      ),
    ];
  }
  if (isDatabaseUnavailable(exception)) {
    logger.warn(`${requestId} ${where}: Postgres unavailable`);
    return [
      503,
      errorBody(
        503,
        'ratchet cannot reach its database right now; nothing was lost. Retry shortly (with the same Idempotency-Key for a POST).',
        null,
        'service_unavailable',
      ),
    ];
  }
  logger.error(`${requestId} ${where} failed`, exception as Error);
  return [
    500,
    errorBody(500, `The server had an error processing your request (request id ${requestId}).`),
  ];
}

/** Postgres refusing a text value: a NUL byte (22021), or \u0000 in JSON (22P05). */
function isUnstorableText(exception: unknown): boolean {
  const code = (exception as { code?: unknown } | null)?.code;
  return code === '22021' || code === '22P05';
}
