import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

// A TCP proxy a test can use to cut a process off from a server the way a network partition
// does: frozen, it forwards nothing, in either direction, not even a close, while every
// connection stays open at both ends (each end's kernel keeps answering TCP).

export interface TcpProxy {
  port: number;
  /** Stops forwarding bytes and closes; new connections wait. */
  freeze(): void;
  /** Ends the server's side of every connection (as the server's keepalives would). */
  cutServerSide(): void;
  /** Forwards again; connections closed meanwhile are closed at the other end too. */
  thaw(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket | null;
  /** Bytes held while frozen, per direction. */
  toServer: Buffer[];
  toClient: Buffer[];
  clientClosed: boolean;
  /** The server's side was ended by cutServerSide. */
  cut: boolean;
}

export async function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let frozen = false;

  const openServerSide = (pair: Pair): void => {
    const server = connect(port, host);
    pair.server = server;
    server.on('error', () => pair.client.destroy());
    server.on('data', (chunk: Buffer) => {
      if (frozen) pair.toClient.push(chunk);
      else pair.client.write(chunk);
    });
    server.on('close', () => {
      if (!frozen) pair.client.destroy();
    });
    for (const chunk of pair.toServer.splice(0)) server.write(chunk);
  };

  const proxy: Server = createServer((client) => {
    const pair: Pair = {
      client,
      server: null,
      toServer: [],
      toClient: [],
      clientClosed: false,
      cut: false,
    };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('data', (chunk: Buffer) => {
      if (frozen || !pair.server) pair.toServer.push(chunk);
      else pair.server.write(chunk);
    });
    client.on('close', () => {
      pair.clientClosed = true;
      if (!frozen) {
        pair.server?.destroy();
        pairs.delete(pair);
      }
    });
    if (!frozen) openServerSide(pair);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));

  return {
    port: (proxy.address() as AddressInfo).port,
    freeze: () => {
      frozen = true;
    },
    cutServerSide: () => {
      for (const pair of pairs) {
        pair.server?.destroy();
        pair.cut = true;
      }
    },
    thaw: () => {
      frozen = false;
      for (const pair of [...pairs]) {
        if (pair.clientClosed || pair.cut) {
          // The server side was cut, or the client left meanwhile: end the connection.
          pair.server?.destroy();
          pair.client.destroy();
          pairs.delete(pair);
          continue;
        }
        if (!pair.server) {
          openServerSide(pair);
          continue;
        }
        for (const chunk of pair.toServer.splice(0)) pair.server.write(chunk);
        for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.server?.destroy();
        }
        proxy.close(() => resolve());
      }),
  };
}
