import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// The `noop` http tool: answers `{}` at once, so a tool step costs only ratchet's own work plus
// one local HTTP round trip (about 0.15 ms with undici here). The same server is the `slow`
// tool at /slow: it answers after SLOW_TOOL_MS, like a tool that waits on something else.

/** How long the `slow` tool takes to answer. */
export const SLOW_TOOL_MS = 50;

export interface NoopToolServer {
  url: string;
  /** The `slow` tool. */
  slowUrl: string;
  /** Calls answered so far; the bench checks it against the tool steps it expects. */
  calls(): number;
  close(): Promise<void>;
}

export async function startNoopToolServer(): Promise<NoopToolServer> {
  let calls = 0;
  const server: Server = createServer((request, response) => {
    // The body must be consumed before answering, or the keep-alive connection cannot be reused.
    request.resume();
    request.on('end', () => {
      calls += 1;
      const answer = (): void => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' });
        response.end('{}');
      };
      if (request.url === '/slow') setTimeout(answer, SLOW_TOOL_MS);
      else answer();
    });
  });
  // Keep idle connections open longer than any pause in the bench, so undici's pool in the
  // worker reuses them instead of paying a TCP handshake per call.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/noop`,
    slowUrl: `http://127.0.0.1:${port}/slow`,
    calls: () => calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
