import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  isInitializeRequest,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

// A real MCP server on 127.0.0.1, built with the same SDK ratchet's client uses, for the MCP
// client's tests and the engine's end-to-end tests. It speaks Streamable HTTP at /mcp, or
// only the older HTTP+SSE transport (GET /sse, POST /messages) when started with
// `transport: 'sse'`. It records every HTTP request and every tool call, can change its tool
// list while clients are connected (sending notifications/tools/list_changed), answer every
// request with an HTTP error, stop dead in the middle of a call, and come back on its port.
//
// Tools:
//   echo {text}           the text back
//   slow {ms}             waits ms (default 10 s), ending early when the call is cancelled
//   fail {}               a result with isError: true
//   crash {}              throws: a JSON-RPC error (-32603) instead of a result
//   image {}              a 1x1 PNG image block, with a caption
//   audio {}              a short WAV audio block
//   resource {}           an embedded text resource, a PDF blob, a binary blob and a link
//   add {a, b}            structured output {sum}, with an outputSchema, and its JSON as text
//   big {bytes}           a text block of that many bytes

/** A tool the fake offers: its listing, and what a call returns (or throws). */
export interface FakeTool {
  definition: Tool;
  run(
    args: Record<string, unknown>,
    context: FakeToolContext,
  ): Promise<CallToolResult> | CallToolResult;
}

export interface FakeToolContext {
  /** Aborts when the client cancels the call or the session closes. */
  signal: AbortSignal;
  call: FakeMcpCall;
}

/** One tools/call as the server received it. */
export interface FakeMcpCall {
  name: string;
  arguments: Record<string, unknown>;
  /** The request's `_meta` (progressToken, ratchet/idempotency-key, ...). */
  meta: Record<string, unknown>;
  /** The JSON-RPC request id the client used. */
  requestId: string | number;
  sessionId: string | undefined;
  /** True once the client's notifications/cancelled reached the server. */
  cancelled: boolean;
  /** Its reason, as the client sent it. */
  cancelReason: string | null;
  /** True once the tool finished (with a result or an error), cancelled or not. */
  finished: boolean;
}

/** One HTTP request the server received. */
export interface FakeMcpHttpRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FakeMcpOptions {
  /** `streamable-http` (the default) serves /mcp; `sse` serves only the older transport. */
  transport?: 'streamable-http' | 'sse';
  /** A port to listen on (to come back where a stopped server was); any free one by default. */
  port?: number;
  /** Tools per tools/list page; all on one page by default. */
  pageSize?: number;
  /** Streamable HTTP answers with JSON bodies instead of SSE streams. */
  jsonResponse?: boolean;
  /** Requests without exactly these headers get HTTP 401. */
  requireHeaders?: Record<string, string>;
  /** The tools to offer; DEFAULT_TOOLS when absent. */
  tools?: FakeTool[];
  /** Leaves tools/list out, so the server answers it with "method not found". */
  withoutListing?: boolean;
}

export interface FakeMcp {
  /** The endpoint a client connects to: /mcp, or /sse for the SSE-only server. */
  readonly url: string;
  readonly port: number;
  readonly calls: FakeMcpCall[];
  readonly httpRequests: FakeMcpHttpRequest[];
  /** How many tools/list requests (pages) arrived. */
  listRequests(): number;
  /** Sessions open now. */
  sessionCount(): number;
  /** Replaces the tools and tells every connected client their list changed. */
  setTools(tools: FakeTool[]): Promise<void>;
  /** Answers every HTTP request with this status (null: serve normally again). */
  respondWith(status: number | null): void;
  /** Resolves with the first call that satisfies `test`, waiting up to `timeoutMs`. */
  waitForCall(test: (call: FakeMcpCall) => boolean, timeoutMs?: number): Promise<FakeMcpCall>;
  /** Kills every connection and stops listening, as a crashed server would. */
  stop(): Promise<void>;
  /** Listens again on the same port, with no sessions: clients must start new ones. */
  restart(): Promise<void>;
  /** Stops for good. */
  close(): Promise<void>;
}

/** A 1x1 transparent PNG. */
export const PNG_1X1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
/** A minimal PDF's bytes, base64. */
export const PDF_BASE64 = Buffer.from('%PDF-1.4\n%%EOF\n').toString('base64');
/** A WAV header with no samples. */
export const WAV_BASE64 = Buffer.from('RIFF$\0\0\0WAVEfmt ').toString('base64');

const objectSchema = (
  properties: Record<string, object> = {},
  required: string[] = [],
): Tool['inputSchema'] => ({
  type: 'object',
  properties,
  required,
});

function text(value: string): CallToolResult {
  return { content: [{ type: 'text', text: value }] };
}

/** Waits `ms`, or until `signal` aborts; says which. */
function wait(ms: number, signal: AbortSignal): Promise<'elapsed' | 'aborted'> {
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve('elapsed');
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve('aborted');
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export const DEFAULT_TOOLS: readonly FakeTool[] = [
  {
    definition: {
      name: 'echo',
      description: 'Echoes the text back',
      inputSchema: objectSchema({ text: { type: 'string' } }, ['text']),
      annotations: { readOnlyHint: true },
    },
    run: (args) => text(String(args.text)),
  },
  {
    definition: {
      name: 'slow',
      description: 'Waits, then answers',
      inputSchema: objectSchema({ ms: { type: 'number' } }),
    },
    run: async (args, { signal }) => {
      const ms = typeof args.ms === 'number' ? args.ms : 10_000;
      const how = await wait(ms, signal);
      return text(how === 'elapsed' ? `slept ${ms} ms` : 'interrupted');
    },
  },
  {
    definition: {
      name: 'fail',
      description: 'Always reports an error',
      inputSchema: objectSchema(),
    },
    run: () => ({ content: [{ type: 'text', text: 'the tool failed on purpose' }], isError: true }),
  },
  {
    definition: {
      name: 'crash',
      description: 'Throws instead of answering',
      inputSchema: objectSchema(),
    },
    run: () => {
      throw new McpError(ErrorCode.InternalError, 'the tool crashed');
    },
  },
  {
    definition: { name: 'image', description: 'Returns a picture', inputSchema: objectSchema() },
    run: () => ({
      content: [
        { type: 'text', text: 'a 1x1 pixel' },
        { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
      ],
    }),
  },
  {
    definition: { name: 'audio', description: 'Returns a sound', inputSchema: objectSchema() },
    run: () => ({ content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }] }),
  },
  {
    definition: { name: 'resource', description: 'Returns resources', inputSchema: objectSchema() },
    run: () => ({
      content: [
        {
          type: 'resource',
          resource: {
            uri: 'file:///notes/readme.txt',
            mimeType: 'text/plain',
            text: 'hello from a resource',
          },
        },
        {
          type: 'resource',
          resource: {
            uri: 'file:///docs/report.pdf',
            mimeType: 'application/pdf',
            blob: PDF_BASE64,
          },
        },
        {
          type: 'resource',
          resource: {
            uri: 'file:///bin/data.bin',
            mimeType: 'application/octet-stream',
            blob: Buffer.from([0, 1, 2, 255]).toString('base64'),
          },
        },
        {
          type: 'resource_link',
          uri: 'https://example.com/big.csv',
          name: 'big.csv',
          mimeType: 'text/csv',
          description: 'The full table',
        },
      ],
    }),
  },
  {
    definition: {
      name: 'add',
      description: 'Adds two numbers',
      inputSchema: objectSchema({ a: { type: 'number' }, b: { type: 'number' } }, ['a', 'b']),
      outputSchema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
    },
    run: (args) => {
      const sum = Number(args.a) + Number(args.b);
      return {
        content: [{ type: 'text', text: JSON.stringify({ sum }) }],
        structuredContent: { sum },
      };
    },
  },
  {
    definition: {
      name: 'big',
      description: 'Returns a large text',
      inputSchema: objectSchema({ bytes: { type: 'number' } }, ['bytes']),
    },
    run: (args) => text('x'.repeat(Number(args.bytes))),
  },
];

/** A tool that answers with fixed text, for tests that change the tool list. */
export function fixedTool(name: string, answer = name): FakeTool {
  return {
    definition: { name, description: `The ${name} tool`, inputSchema: objectSchema() },
    run: () => text(answer),
  };
}

interface Session {
  server: Server;
  transport: StreamableHTTPServerTransport | SSEServerTransport;
}

export async function startFakeMcp(options: FakeMcpOptions = {}): Promise<FakeMcp> {
  const transportKind = options.transport ?? 'streamable-http';
  const calls: FakeMcpCall[] = [];
  const httpRequests: FakeMcpHttpRequest[] = [];
  const sessions = new Map<string, Session>();
  let tools: FakeTool[] = [...(options.tools ?? DEFAULT_TOOLS)];
  let listRequests = 0;
  let forcedStatus: number | null = null;

  function mcpServer(): Server {
    const server = new Server(
      { name: 'fake-mcp', version: '1.0.0' },
      { capabilities: { tools: { listChanged: true } } },
    );
    if (!options.withoutListing) {
      server.setRequestHandler(ListToolsRequestSchema, (request) => {
        listRequests += 1;
        const start = request.params?.cursor ? Number(request.params.cursor) : 0;
        const size = options.pageSize ?? tools.length;
        const page = tools.slice(start, start + size).map((tool) => tool.definition);
        const next = start + size;
        return next < tools.length ? { tools: page, nextCursor: String(next) } : { tools: page };
      });
    }
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const call: FakeMcpCall = {
        name: request.params.name,
        arguments: request.params.arguments ?? {},
        meta: { ...(request.params._meta ?? {}) },
        requestId: extra.requestId,
        sessionId: extra.sessionId,
        cancelled: false,
        cancelReason: null,
        finished: false,
      };
      calls.push(call);
      // notifications/cancelled aborts with the client's reason (a string); a closing
      // session aborts without one.
      extra.signal.addEventListener(
        'abort',
        () => {
          const reason: unknown = extra.signal.reason;
          if (typeof reason === 'string') {
            call.cancelled = true;
            call.cancelReason = reason;
          }
        },
        { once: true },
      );
      const tool = tools.find((candidate) => candidate.definition.name === call.name);
      try {
        if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${call.name}`);
        return await tool.run(call.arguments, { signal: extra.signal, call });
      } finally {
        call.finished = true;
      }
    });
    return server;
  }

  async function handleStreamable(
    request: IncomingMessage,
    response: ServerResponse,
    body: unknown,
  ): Promise<void> {
    const sessionId = request.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = sessions.get(sessionId);
      if (!(session?.transport instanceof StreamableHTTPServerTransport)) {
        return sendJsonRpcError(response, 404, 'Session not found');
      }
      return session.transport.handleRequest(request, response, body);
    }
    if (request.method !== 'POST' || !isInitializeRequest(body)) {
      return sendJsonRpcError(response, 400, 'No session: initialize first');
    }
    const server = mcpServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: options.jsonResponse ?? false,
      onsessioninitialized: (id) => {
        sessions.set(id, { server, transport });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(request, response, body);
  }

  async function handleSse(
    request: IncomingMessage,
    response: ServerResponse,
    body: unknown,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    if (path === '/sse' && request.method === 'GET') {
      const transport = new SSEServerTransport('/messages', response);
      const server = mcpServer();
      sessions.set(transport.sessionId, { server, transport });
      transport.onclose = () => sessions.delete(transport.sessionId);
      await server.connect(transport);
      return;
    }
    if (path === '/messages' && request.method === 'POST') {
      const session = sessions.get(query.get('sessionId') ?? '');
      if (!(session?.transport instanceof SSEServerTransport)) {
        return sendJsonRpcError(response, 404, 'Session not found');
      }
      return session.transport.handlePostMessage(request, response, body);
    }
    // What an old server says to a Streamable HTTP client POSTing to its SSE endpoint.
    response.writeHead(path === '/sse' ? 405 : 404).end();
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://fake');
    httpRequests.push({
      method: request.method ?? '',
      path: url.pathname,
      headers: request.headers,
    });
    const raw = await readBody(request);
    if (forcedStatus !== null) {
      response
        .writeHead(forcedStatus, { 'content-type': 'text/plain' })
        .end(`forced HTTP ${forcedStatus}`);
      return;
    }
    for (const [name, value] of Object.entries(options.requireHeaders ?? {})) {
      if (request.headers[name.toLowerCase()] !== value) {
        response.writeHead(401, { 'content-type': 'text/plain' }).end(`missing or wrong ${name}`);
        return;
      }
    }
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return sendJsonRpcError(response, 400, 'Parse error');
    }
    if (transportKind === 'sse')
      return handleSse(request, response, body, url.pathname, url.searchParams);
    if (url.pathname !== '/mcp') {
      response.writeHead(404).end();
      return;
    }
    return handleStreamable(request, response, body);
  }

  let http: HttpServer = createHttpServer();
  let port = options.port ?? 0;

  function createHttpServer(): HttpServer {
    return createServer((request, response) => {
      handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500).end(String(error));
        else response.destroy();
      });
    });
  }

  async function listen(): Promise<void> {
    http.listen(port, '127.0.0.1');
    await once(http, 'listening');
    port = (http.address() as AddressInfo).port;
  }

  async function closeSessions(): Promise<void> {
    const open = [...sessions.values()];
    sessions.clear();
    await Promise.all(open.map((session) => session.server.close().catch(() => undefined)));
  }

  async function stop(): Promise<void> {
    if (!http.listening) return;
    const closed = once(http, 'close');
    http.close();
    // Sockets first, so clients see the connection die rather than a polite goodbye.
    http.closeAllConnections();
    await closeSessions();
    await closed;
  }

  await listen();
  const endpoint = transportKind === 'sse' ? '/sse' : '/mcp';

  return {
    get url() {
      return `http://127.0.0.1:${port}${endpoint}`;
    },
    get port() {
      return port;
    },
    calls,
    httpRequests,
    listRequests: () => listRequests,
    sessionCount: () => sessions.size,
    async setTools(next) {
      tools = [...next];
      await Promise.all(
        [...sessions.values()].map((session) =>
          session.server.sendToolListChanged().catch(() => undefined),
        ),
      );
    },
    respondWith(status) {
      forcedStatus = status;
    },
    async waitForCall(test, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = calls.find(test);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching call within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    stop,
    async restart() {
      await stop();
      // A restart takes a moment, in which clients see their sockets close; without it a
      // client in this same process could reuse a socket whose end it has not yet read.
      await new Promise((resolve) => setTimeout(resolve, 20));
      http = createHttpServer();
      await listen();
    },
    close: stop,
  };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendJsonRpcError(response: ServerResponse, status: number, message: string): void {
  response
    .writeHead(status, { 'content-type': 'application/json' })
    .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}
