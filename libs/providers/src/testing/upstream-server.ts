import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

// A real upstream on 127.0.0.1 for provider specs: undici bypasses in-process HTTP mocks,
// and a real socket is the only way to see a stream cut off or a connection closed on abort.

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export type Handler = (request: RecordedRequest, response: ServerResponse) => void;

export class TestUpstream {
  /** The API root, ending in `/v1/`. */
  readonly baseUrl: string;
  /** Answers the next requests; tests set it. */
  handler: Handler = () => undefined;
  /** Every request since the last reset, in order. */
  received: RecordedRequest[] = [];
  /** Resolves when the server sees a response closed before it was finished. */
  abandoned!: Promise<void>;
  private markAbandoned: () => void = () => undefined;

  private constructor(private readonly server: Server) {
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;
    this.reset();
  }

  static async start(): Promise<TestUpstream> {
    let upstream: TestUpstream | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const recorded: RecordedRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: text ? (JSON.parse(text) as unknown) : null,
        };
        if (!upstream) return;
        const current = upstream;
        current.received.push(recorded);
        res.on('close', () => {
          if (!res.writableFinished) current.markAbandoned();
        });
        current.handler(recorded, res);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    upstream = new TestUpstream(server);
    return upstream;
  }

  /** The bodies of the requests received, in order. */
  get bodies(): unknown[] {
    return this.received.map((request) => request.body);
  }

  /** Forgets what was received and arms `abandoned` again; `handler` answers from now on. */
  reset(handler: Handler = () => undefined): void {
    this.received = [];
    this.handler = handler;
    this.abandoned = new Promise((resolve) => (this.markAbandoned = resolve));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

/** Starts a 200 event-stream reply, as a streaming upstream does before its first event. */
export function startEventStream(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

/**
 * Answers with an event stream written in pieces of `size` characters, pausing between them,
 * so the provider sees chunk boundaries inside events. `end: false` destroys the connection
 * after the last piece instead of ending the body, as a crashed upstream leaves it.
 */
export function serveEventStream(
  text: string,
  options: { size?: number; end?: boolean } = {},
): Handler {
  const size = options.size ?? 37;
  return (_request, response) => {
    startEventStream(response);
    void (async () => {
      for (let at = 0; at < text.length; at += size) {
        if (response.destroyed) return;
        response.write(text.slice(at, at + size));
        // A turn of the event loop between pieces: the reader takes each one on its own.
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (options.end === false) response.destroy();
      else response.end();
    })();
  };
}
