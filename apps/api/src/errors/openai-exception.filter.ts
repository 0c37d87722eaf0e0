import { randomUUID } from 'node:crypto';
import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Logger,
} from '@nestjs/common';
import { RatchetError } from '@ratchet/core';
import { isDatabaseUnavailable } from '@ratchet/store';
import type { Request, Response } from 'express';
import { errorBody, statusOfKind, type ErrorBody } from './error-body';

/**
 * Every error leaves the API in OpenAI's envelope. Domain errors map by kind; Nest's HTTP
 * exceptions keep their status; anything else is a 500 with an opaque message and a request
 * id that is also logged with the whole error.
 */
@Catch()
export class OpenAIExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const [status, body] = this.describe(exception, request);
    if (response.headersSent) {
      // A stream already started; the only honest thing left is to end it.
      response.end();
      return;
    }
    response.status(status).json(body);
  }

  private describe(exception: unknown, request: Request): [number, ErrorBody] {
    if (exception instanceof RatchetError) {
      const status = statusOfKind[exception.kind];
      return [status, errorBody(status, exception.message, exception.param, exception.code)];
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const message =
        status === 404
          ? `Unknown request URL: ${request.method} ${request.path}.`
          : exception.message;
      return [status, errorBody(status, message)];
    }
    if (isUnstorableText(exception)) {
      // Text Postgres cannot hold (a NUL character), from a path or query the body checks
      // did not see: the request's fault, not the server's.
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
      this.logger.warn(`${request.method} ${request.path}: Postgres unavailable`);
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
    const requestId = `req_${randomUUID().replace(/-/g, '')}`;
    this.logger.error(`${requestId} ${request.method} ${request.path} failed`, exception as Error);
    return [
      500,
      errorBody(500, `The server had an error processing your request (request id ${requestId}).`),
    ];
  }
}

/** Postgres refusing a text value: a NUL byte (22021), or \u0000 in JSON (22P05). */
function isUnstorableText(exception: unknown): boolean {
  const code = (exception as { code?: unknown } | null)?.code;
  return code === '22021' || code === '22P05';
}
