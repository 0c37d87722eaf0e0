import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metrics } from './metrics';

/** A metrics port that is listening. */
export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the process's metrics at GET /metrics on a port of its own (RATCHET_METRICS_PORT),
 * for processes without the API (workers). No key: keep the port on a private network.
 */
export async function listenForScrapes(port: number, host = '0.0.0.0'): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: GET /metrics\n');
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => response.writeHead(200, { 'content-type': contentType }).end(body),
      (error: unknown) =>
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  // A scrape never keeps the process from exiting.
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * A process entry point's metrics port, when RATCHET_METRICS_PORT sets one: the text to add to
 * its start-up line ('' when none).
 */
export async function serveMetrics(port: number | undefined): Promise<string> {
  if (port === undefined) return '';
  const server = await listenForScrapes(port);
  return `; metrics on http://127.0.0.1:${server.port}/metrics`;
}
