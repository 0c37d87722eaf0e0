import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type OpenAI from 'openai';

// A real HTTP server on 127.0.0.1 acting as ratchet's server-side tools. Each path is a tool
// behaviour; every call is recorded with its Idempotency-Key, timing and whether the caller
// hung up early.
//   /echo          answers the JSON arguments back
//   /sleep         waits `ms` (from the arguments) then answers {"slept": ms}
//   /fail          answers 500 with a message
//   /hang          never answers (for cancellation tests)

/**
 * A request's tool `name`, one of ratchet's configured tools (such as these fake ones), which
 * ratchet runs itself: the request names it, and ratchet's config says what it is.
 */
export const serverTool = (name: string): OpenAI.Responses.FunctionTool =>
  ({ type: 'function', name }) as OpenAI.Responses.FunctionTool;

export interface ToolCall {
  path: string;
  idempotencyKey: string | undefined;
  /** The W3C trace context the call carried, if any. */
  traceparent: string | undefined;
  body: unknown;
  startedAt: number;
  endedAt: number | null;
  /** When the caller closed the connection before an answer was sent. */
  abortedAt: number | null;
}

export interface FakeTools {
  url: string;
  calls: ToolCall[];
  /** Most calls that were in flight at once. */
  maxInFlight(): number;
  close(): Promise<void>;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

export async function startFakeTools(): Promise<FakeTools> {
  const calls: ToolCall[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((request, response) => {
    void (async () => {
      const text = await readBody(request);
      const call: ToolCall = {
        path: request.url ?? '',
        idempotencyKey: request.headers['idempotency-key'] as string | undefined,
        traceparent: request.headers.traceparent as string | undefined,
        body: text ? (JSON.parse(text) as unknown) : null,
        startedAt: Date.now(),
        endedAt: null,
        abortedAt: null,
      };
      calls.push(call);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      let answered = false;
      response.on('close', () => {
        inFlight -= 1;
        if (!answered) call.abortedAt = Date.now();
      });
      const answer = (status: number, body: unknown): void => {
        if (response.destroyed) return;
        answered = true;
        call.endedAt = Date.now();
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      const args = (call.body ?? {}) as { ms?: number };
      switch (call.path) {
        case '/echo':
          return answer(200, call.body);
        case '/sleep':
          setTimeout(() => answer(200, { slept: args.ms ?? 0 }), args.ms ?? 0);
          return;
        case '/fail':
          return answer(500, { error: 'the tool broke' });
        case '/hang':
          return;
        default:
          return answer(404, { error: `no tool at ${call.path}` });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
