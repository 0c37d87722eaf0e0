import { connect } from 'node:net';

// Sending fuzzed requests and judging the answers: every answer is a 2xx, or a 4xx in
// OpenAI's error envelope; never a 5xx and never a hang.

/** How long one fuzzed exchange may take, answer and body included. */
export const EXCHANGE_TIMEOUT_MS = 10_000;

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** fetch with a deadline; the whole body is read (an event stream to its end). */
export async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const signal = AbortSignal.timeout(EXCHANGE_TIMEOUT_MS);
  try {
    const response = await fetch(url, { ...init, signal, redirect: 'manual' });
    const body = await response.text();
    return { status: response.status, headers: Object.fromEntries(response.headers), body };
  } catch (error) {
    if (signal.aborted) {
      throw new Error(
        `no complete answer within ${EXCHANGE_TIMEOUT_MS} ms: ${init.method ?? 'GET'} ${url}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Writes `request` as raw bytes (for what fetch refuses to send: lying Content-Length, bad
 * header bytes) and reads until the server closes or `EXCHANGE_TIMEOUT_MS` passes. `end`
 * half-closes after writing, as a client that has nothing more to send.
 */
export function sendRaw(url: string, request: Buffer | string, end = true): Promise<Answer | null> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `no answer within ${EXCHANGE_TIMEOUT_MS} ms to ${JSON.stringify(request.toString().slice(0, 200))}`,
        ),
      );
    }, EXCHANGE_TIMEOUT_MS);
    socket.on('connect', () => {
      socket.write(request);
      if (end) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // A kept-alive socket stays open after an answer: stop reading once one is whole.
      if (answerIsWhole(Buffer.concat(chunks))) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseRawAnswer(Buffer.concat(chunks)));
    });
  });
}

/** Whether `bytes` hold a whole answer (a 101's head is one). */
function answerIsWhole(bytes: Buffer): boolean {
  const text = bytes.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return false;
  if (text.startsWith('HTTP/1.1 101')) return true;
  const head = text.slice(0, headEnd).toLowerCase();
  const length = /\r\ncontent-length: *(\d+)/.exec(head);
  if (length) return bytes.length >= headEnd + 4 + Number(length[1]);
  if (head.includes('transfer-encoding: chunked')) return text.endsWith('0\r\n\r\n');
  return false;
}

/** The first answer in raw bytes; null when the server closed without one. */
export function parseRawAnswer(bytes: Buffer): Answer | null {
  const text = bytes.toString('utf8');
  const headEnd = text.indexOf('\r\n\r\n');
  if (!text.startsWith('HTTP/1.1 ') || headEnd < 0) return null;
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = text.slice(headEnd + 4);
  if (headers['content-length'] !== undefined) {
    body = Buffer.from(body).subarray(0, Number(headers['content-length'])).toString('utf8');
  } else if (headers['transfer-encoding'] === 'chunked') {
    body = dechunk(body);
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    if (lineEnd < 0) return out;
    const size = parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/** Error codes that say a field is at fault, so the error must name it in `param`. */
const FIELD_CODES = new Set([
  'invalid_type',
  'invalid_value',
  'unknown_parameter',
  'missing_required_parameter',
]);

/**
 * Why `answer` breaks the contract, or null when it keeps it: a 5xx, a 4xx whose body is not
 * OpenAI's envelope, a field error without a param, or no request id.
 */
export function contractBreach(answer: Answer): string | null {
  if (answer.status >= 500) return `a ${answer.status}: ${answer.body.slice(0, 500)}`;
  if (!answer.headers['x-request-id']) return `a ${answer.status} without an x-request-id header`;
  if (answer.status === 101) return null;
  if (answer.status < 200 || answer.status >= 600) return `status ${answer.status}`;
  if (answer.status < 400) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return `a ${answer.status} whose body is not JSON: ${answer.body.slice(0, 300)}`;
  }
  const error = (parsed as { error?: Record<string, unknown> } | null)?.error;
  const envelope =
    error !== null &&
    typeof error === 'object' &&
    Object.keys(parsed as object).length === 1 &&
    typeof error.message === 'string' &&
    error.message.length > 0 &&
    typeof error.type === 'string' &&
    (error.param === null || typeof error.param === 'string') &&
    (error.code === null || typeof error.code === 'string');
  if (!envelope)
    return `a ${answer.status} outside the error envelope: ${answer.body.slice(0, 300)}`;
  if (
    answer.status === 400 &&
    FIELD_CODES.has(error.code as string) &&
    error.param === null &&
    !/body/i.test(error.message as string)
  ) {
    return `a field error without a param: ${answer.body.slice(0, 300)}`;
  }
  return null;
}

/** Collects unhandled rejections and uncaught exceptions while a suite runs. */
export function watchProcess(): { problems: string[]; stop(): void } {
  const problems: string[] = [];
  const onRejection = (reason: unknown): void => {
    problems.push(
      `unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`,
    );
  };
  const onException = (error: Error): void => {
    problems.push(`uncaught exception: ${error.stack ?? String(error)}`);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    problems,
    stop: () => {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
