import type { INestApplication } from '@nestjs/common';

/**
 * Connections the kernel may hold for the API before it accepts them. Node's default, 511,
 * is overrun by a burst of clients connecting at once (2,000 foreground requests in
 * `npm run bench`): each connection past it has its SYN dropped and waits for the client's
 * retry, one second and then three more. The kernel caps it at `net.core.somaxconn` (4096 by
 * default on Linux 5.4 and later).
 */
export const LISTEN_BACKLOG = 4096;

/**
 * Starts the API's HTTP server on `port` and `host`, with the backlog above. Nest hands the
 * arguments after the port to node's `server.listen(port, host, backlog)` as they are; its
 * typings name only a callback there.
 */
export async function listen(app: INestApplication, port: number, host: string): Promise<void> {
  const listenWith = app.listen.bind(app) as unknown as (
    port: number,
    host: string,
    backlog: number,
  ) => Promise<unknown>;
  await listenWith(port, host, LISTEN_BACKLOG);
}
