import type { HttpToolConfig } from '@ratchet/config';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import {
  HttpToolClient,
  type HttpToolCall,
  NOT_UTF8_NOTE,
  type ToolOutcome,
} from './http-tool.client';

// A real tool server on 127.0.0.1: undici bypasses in-process HTTP mocks, and only a real
// socket shows connections closing on abort, timeout and oversize answers.

interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let agent: Agent;
let handler: Handler;
let received: RecordedRequest[];
let inFlight: number;
let maxInFlight: number;
/** A request that reached the server; boxed because a promise resolved with a promise adopts it. */
interface Arrival {
  socketClosed: Promise<void>;
}
/** Waiters for the next requests, in order. */
let arrivals: Array<(arrival: Arrival) => void>;
/** Timers the handlers started, cleared after each test so none outlives it. */
let timers: NodeJS.Timeout[];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.on('close', () => (inFlight -= 1));
      // Not events.once: it also rejects on the socket's 'error' (a reset), which these
      // tests cause on purpose and which Node still follows with 'close'.
      const socketClosed = new Promise<void>((resolve) =>
        req.socket.once('close', () => resolve()),
      );
      arrivals.shift()?.({ socketClosed });
      handler(req, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent = new Agent();
});

beforeEach(() => {
  received = [];
  inFlight = 0;
  maxInFlight = 0;
  arrivals = [];
  timers = [];
  handler = (_req, res) => sendJson(res, 200, { ok: true });
});

afterEach(() => {
  for (const timer of timers) clearTimeout(timer);
});

afterAll(async () => {
  await agent.close();
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function later(ms: number, action: () => void): void {
  timers.push(setTimeout(action, ms));
}

/** Resolves when the next request arrives. */
function nextArrival(): Promise<Arrival> {
  return new Promise((resolve) => arrivals.push(resolve));
}

/** Rejects if `promise` has not settled within `ms`: every wait in these tests is bounded. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

function tool(overrides: Partial<HttpToolConfig> = {}): HttpToolConfig {
  return {
    type: 'http',
    url: `${baseUrl}/tool`,
    parameters: { type: 'object', properties: {} },
    timeoutMs: 5_000,
    headers: {},
    ...overrides,
    approval: overrides.approval ?? 'never',
  };
}

function toolCall(overrides: Partial<HttpToolCall> = {}): HttpToolCall {
  return { stepId: 'step_1', name: 'get_weather', arguments: '{"city":"Paris"}', ...overrides };
}

function client(options: { maxResponseBytes?: number } = {}): HttpToolClient {
  return new HttpToolClient({ dispatcher: agent, ...options });
}

function expectError(outcome: ToolOutcome, code: string): string {
  if (outcome.ok) throw new Error(`expected ${code}, got output ${outcome.output}`);
  expect(outcome.error.code).toBe(code);
  return outcome.error.message;
}

describe('HttpToolClient request', () => {
  it('POSTs the arguments exactly, with the contract and configured headers', async () => {
    const config = tool({
      headers: {
        'X-Api-Key': 'secret',
        // Configuration cannot replace the contract headers.
        'Idempotency-Key': 'configured',
        'Content-Type': 'text/plain',
      },
    });
    const args = '{"city": "Paris",  "units":["c"]}';

    await client().call(config, toolCall({ stepId: 'step_42', arguments: args }));
    await client().call(config, toolCall({ stepId: 'step_42', arguments: args }));

    expect(received).toHaveLength(2);
    for (const request of received) {
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/tool');
      expect(request.body).toBe(args);
      expect(request.headers['idempotency-key']).toBe('step_42');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['user-agent']).toBe('ratchet');
      expect(request.headers['x-api-key']).toBe('secret');
    }
  });

  it('sends {} for empty arguments', async () => {
    await client().call(tool(), toolCall({ arguments: '' }));
    await client().call(tool(), toolCall({ arguments: '  \n' }));

    expect(received.map((request) => request.body)).toEqual(['{}', '{}']);
  });

  it('rejects arguments that are not JSON without calling the tool', async () => {
    const outcome = await client().call(tool(), toolCall({ arguments: '{"city": "Par' }));

    const message = expectError(outcome, 'invalid_arguments');
    expect(message).toContain('"get_weather"');
    expect(message).toContain('not valid JSON');
    expect(received).toHaveLength(0);
  });

  it('rejects JSON arguments that are not an object without calling the tool', async () => {
    const outcome = await client().call(tool(), toolCall({ arguments: '["Paris"]' }));

    expect(expectError(outcome, 'invalid_arguments')).toContain('not an array');
    expect(received).toHaveLength(0);
  });

  it("works on undici's global dispatcher when none is given", async () => {
    const outcome = await new HttpToolClient().call(tool(), toolCall());

    expect(outcome).toEqual({ ok: true, output: '{"ok":true}' });
  });
});

describe('HttpToolClient outcomes', () => {
  it('re-serialises a 2xx JSON body compactly', async () => {
    handler = (_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{\n  "temp": 21.5,\n  "sky": "clear"\n}\n');
    };

    const outcome = await client().call(tool(), toolCall());

    expect(outcome).toEqual({ ok: true, output: '{"temp":21.5,"sky":"clear"}' });
  });

  it('answers "" for an empty 2xx body', async () => {
    handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };

    expect(await client().call(tool(), toolCall())).toEqual({ ok: true, output: '' });
  });

  it('marks an answer that is not valid UTF-8, shown with replacement characters', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        Buffer.concat([Buffer.from('{"city": "K'), Buffer.from([0xf6]), Buffer.from('ln"}')]),
      );
    };

    expect(await client().call(tool(), toolCall())).toEqual({
      ok: true,
      output: `${NOT_UTF8_NOTE} {"city":"K\uFFFDln"}`,
    });
  });

  it('marks an error body that is not valid UTF-8', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(Buffer.from([0x68, 0x69, 0xff]));
    };

    const message = expectError(await client().call(tool(), toolCall()), 'tool_bad_response');
    expect(message).toContain(`hi\uFFFD ${NOT_UTF8_NOTE}`);
  });

  it('reports a 2xx body that is not JSON', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>sunny</html>');
    };

    const message = expectError(await client().call(tool(), toolCall()), 'tool_bad_response');
    expect(message).toContain('not JSON');
    expect(message).toContain('<html>sunny</html>');
  });

  it('reports a 4xx with its body', async () => {
    handler = (_req, res) => sendJson(res, 404, { error: 'no such city' });

    const message = expectError(await client().call(tool(), toolCall()), 'tool_http_error');
    expect(message).toContain('HTTP 404');
    expect(message).toContain('{"error":"no such city"}');
  });

  it('reports a 5xx with an excerpt of a long body', async () => {
    handler = (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      // Longer than the part of an error body the client reads.
      res.end(`overloaded ${'x'.repeat(100_000)}`);
    };

    const message = expectError(await client().call(tool(), toolCall()), 'tool_http_error');
    expect(message).toContain('HTTP 503');
    expect(message).toContain('overloaded xxx');
    expect(message.length).toBeLessThan(650);
  });

  it('reports a 5xx with an empty body', async () => {
    handler = (_req, res) => {
      res.writeHead(500);
      res.end();
    };

    const message = expectError(await client().call(tool(), toolCall()), 'tool_http_error');
    expect(message).toContain('HTTP 500');
    expect(message).toContain('empty body');
  });

  it('refuses a body over the cap and closes the connection', async () => {
    const arrival = nextArrival();
    handler = (_req, res) => {
      // Chunked, so the cap is found while reading rather than from content-length.
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = `"${'a'.repeat(16 * 1024)}",`;
      res.write('[');
      let sent = 0;
      const writeMore = (): void => {
        // Stops at 1000 chunks so a client that never hangs up cannot keep the server busy.
        while (sent < 1_000 && !res.destroyed) {
          sent += 1;
          if (!res.write(chunk)) return void res.once('drain', writeMore);
        }
        res.end('0]');
      };
      writeMore();
    };

    const outcome = await client({ maxResponseBytes: 64 * 1024 }).call(tool(), toolCall());

    expect(expectError(outcome, 'tool_response_too_large')).toContain('65536 bytes');
    const { socketClosed } = await within(1_000, arrival, 'the request reaching the server');
    await within(1_000, socketClosed, 'the server seeing the connection close');
  });

  it('refuses a body whose content-length is over the cap without reading it', async () => {
    handler = (_req, res) => sendJson(res, 200, { big: 'b'.repeat(10_000) });

    const outcome = await client({ maxResponseBytes: 1_000 }).call(tool(), toolCall());

    expectError(outcome, 'tool_response_too_large');
  });

  it('reports a refused connection', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');

    const outcome = await client().call(tool({ url: `http://127.0.0.1:${port}/tool` }), toolCall());

    expect(expectError(outcome, 'tool_unreachable')).toContain('ECONNREFUSED');
  });

  it('reports a connection the tool server drops mid-answer', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":');
      later(20, () => res.destroy());
    };

    const message = expectError(await client().call(tool(), toolCall()), 'tool_unreachable');
    expect(message).toContain('broke before it finished');
  });
});

describe('HttpToolClient timeout', () => {
  it('times out a tool that does not answer, closing the connection', async () => {
    const arrival = nextArrival();
    handler = (_req, res) => later(3_000, () => sendJson(res, 200, { late: true }));
    const started = Date.now();

    const outcome = await client().call(tool({ timeoutMs: 200 }), toolCall());

    const elapsed = Date.now() - started;
    expect(expectError(outcome, 'tool_timeout')).toContain('200 ms');
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1_000);
    const { socketClosed } = await within(1_000, arrival, 'the request reaching the server');
    await within(1_000, socketClosed, 'the server seeing the connection close');
  });

  it('counts reading the body against the timeout', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"slow":');
      later(3_000, () => res.end('true}'));
    };
    const started = Date.now();

    const outcome = await client().call(tool({ timeoutMs: 200 }), toolCall());

    expectError(outcome, 'tool_timeout');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('HttpToolClient cancellation', () => {
  it('rejects with the reason and closes the connection when aborted before the answer', async () => {
    const arrival = nextArrival();
    handler = () => {}; // never answers
    const controller = new AbortController();
    const reason = new Error('response cancelled');

    const pending = client().call(tool(), toolCall(), controller.signal);
    const { socketClosed } = await within(1_000, arrival, 'the request reaching the server');
    controller.abort(reason);

    await expect(within(1_000, pending, 'the call settling')).rejects.toBe(reason);
    await within(1_000, socketClosed, 'the server seeing the connection close');
  });

  it('rejects with the reason and closes the connection when aborted mid-body', async () => {
    const arrival = nextArrival();
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
    };
    const controller = new AbortController();
    const reason = new Error('response cancelled');

    const pending = client().call(tool(), toolCall(), controller.signal);
    const { socketClosed } = await within(1_000, arrival, 'the request reaching the server');
    // Let the headers reach the client so the abort lands while the body is being read.
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(reason);

    await expect(within(1_000, pending, 'the call settling')).rejects.toBe(reason);
    await within(1_000, socketClosed, 'the server seeing the connection close');
  });

  it('rejects without calling the tool when the signal is already aborted', async () => {
    const reason = new Error('already cancelled');

    await expect(client().call(tool(), toolCall(), AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(received).toHaveLength(0);
  });
});

describe('HttpToolClient concurrency', () => {
  it('runs calls to one tool at the same time', async () => {
    handler = (_req, res) => later(300, () => sendJson(res, 200, { done: true }));

    const outcomes = await within(
      2_000,
      Promise.all(
        ['step_a', 'step_b', 'step_c'].map((stepId) => client().call(tool(), toolCall({ stepId }))),
      ),
      'three concurrent calls',
    );

    expect(outcomes).toEqual(Array(3).fill({ ok: true, output: '{"done":true}' }));
    expect(maxInFlight).toBe(3);
  });
});
