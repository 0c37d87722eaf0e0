import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { errorBody } from '../errors/error-body';
import { requestIdOf, REQUEST_ID_HEADER } from './request-id';

/**
 * Node refuses an HTTP/1.1 request without a Host header itself, with a bare 400 that no
 * middleware sees; the app makes the same refusal instead (`refuseMissingHost`), in OpenAI's
 * envelope and with a request id.
 */
export function takeOverHostCheck(server: Server): void {
  (server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
}

export function refuseMissingHost(
  request: IncomingMessage,
  response: ServerResponse,
  next: () => void,
): void {
  if (request.httpVersion === '1.1' && !request.headers.host) {
    const body = JSON.stringify(
      errorBody(400, 'HTTP/1.1 requests must have a Host header.', 'Host', 'missing_host_header'),
    );
    response.writeHead(400, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      [REQUEST_ID_HEADER]: requestIdOf(request),
    });
    response.end(body);
    return;
  }
  next();
}

/**
 * A NUL character in the path or query (`%00`) becomes U+FFFD before routing, as it does in
 * bodies (see withStorableRequestText): ids and cursors holding one then name nothing and
 * are answered as such, rather than reaching Postgres, which cannot store NUL.
 */
export function storableRequestTarget(
  request: IncomingMessage,
  _response: ServerResponse,
  next: () => void,
): void {
  if (request.url?.includes('%00')) request.url = request.url.replaceAll('%00', '%EF%BF%BD');
  next();
}
