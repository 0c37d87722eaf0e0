import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The header that carries a request's id, both ways. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** A client's own id is kept when it is short and plain enough to log and echo safely. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

const REQUEST_ID = Symbol('ratchet.requestId');

type Tagged = IncomingMessage & { [REQUEST_ID]?: string };

export function newRequestId(): string {
  return `req_${randomUUID().replace(/-/g, '')}`;
}

/** The client's `x-request-id` when it is sane, else a new one. */
export function chooseRequestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : newRequestId();
}

/** The id `assignRequestId` gave this request (a new one if it never ran). */
export function requestIdOf(request: IncomingMessage): string {
  const tagged = request as Tagged;
  tagged[REQUEST_ID] ??= chooseRequestId(request.headers[REQUEST_ID_HEADER]);
  return tagged[REQUEST_ID];
}

/**
 * First middleware of the app: every answer, errors of the body parser and the router
 * included, carries an `x-request-id` that logs of the request repeat.
 */
export function assignRequestId(
  request: IncomingMessage,
  response: ServerResponse,
  next: () => void,
): void {
  response.setHeader(REQUEST_ID_HEADER, requestIdOf(request));
  next();
}
