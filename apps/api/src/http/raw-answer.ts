import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody, type ErrorBody } from '../errors/error-body';
import { newRequestId, REQUEST_ID_HEADER } from './request-id';

/**
 * Answers on a bare socket, where no Express response exists (a refused WebSocket upgrade,
 * a request Node's HTTP parser rejected): OpenAI's envelope and a request id, then hangs up.
 */
export function writeRawError(
  socket: Duplex,
  status: number,
  body: ErrorBody,
  requestId: string,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(json)}\r\n` +
      `${REQUEST_ID_HEADER}: ${requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      json,
  );
}

/** The answer to a request that Node's HTTP parser refused (see `server.on('clientError')`). */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset or closed peer cannot be answered; a response already under way cannot be replaced.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, message, code] = clientErrorAnswer(error.code);
  writeRawError(socket, status, errorBody(status, message, null, code), newRequestId());
}

function clientErrorAnswer(code: string | undefined): [number, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return [431, 'The request headers are too large.', 'headers_too_large'];
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return [408, 'The request was not received in time.', 'request_timeout'];
  }
  return [400, `The HTTP request is malformed (${code ?? 'unparseable'}).`, 'invalid_http_request'];
}
