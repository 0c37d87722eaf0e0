import type { IncomingMessage, Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  Injectable,
  Logger,
  NotFoundException,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AppConfig } from '@ratchet/config';
import { dialectOf, RatchetError } from '@ratchet/core';
import { ApiKeysRepository } from '@ratchet/store';
import { WebSocketServer } from 'ws';
import { authenticateBearer } from '../auth/bearer';
import { describeError } from '../errors/describe-error';
import type { ErrorBody } from '../errors/error-body';
import { EventStreamService } from '../responses/event-stream.service';
import { ResponsesService } from '../responses/responses.service';
import { ResponsesConnection } from './responses-connection';

/** The one path that speaks WebSocket mode, as in the Open Responses spec. */
const RESPONSES_PATH = '/v1/responses';

/** How long a closing connection waits for the peer's close frame before it is cut. */
const CLOSE_GRACE_MS = 2000;

/**
 * WebSocket mode of /v1/responses on the API's own HTTP server: upgrades are authenticated
 * with the same keys as HTTP requests (refused with an OpenAI error body before any upgrade),
 * messages are bounded by RATCHET_BODY_LIMIT_BYTES, idle peers are pinged every
 * RATCHET_SSE_KEEPALIVE_MS and cut when they stop answering, and every socket is closed
 * before the app's database and Redis connections are.
 */
@Injectable()
export class ResponsesWebSocketServer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('WebSocket');
  private readonly server: WebSocketServer;
  private readonly connections = new Set<ResponsesConnection>();
  private httpServer: Server | null = null;
  private pinger: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    private readonly config: AppConfig,
    private readonly adapterHost: HttpAdapterHost,
    private readonly keys: ApiKeysRepository,
    private readonly responses: ResponsesService,
    private readonly streams: EventStreamService,
  ) {
    this.server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: config.env.RATCHET_BODY_LIMIT_BYTES,
    });
  }

  onApplicationBootstrap(): void {
    this.httpServer = (this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined) ?? null;
    if (!this.httpServer) return;
    this.httpServer.on('upgrade', this.onUpgrade);
    this.pinger = setInterval(() => {
      for (const connection of this.connections) connection.ping();
    }, this.config.env.RATCHET_SSE_KEEPALIVE_MS);
    this.pinger.unref();
  }

  async onModuleDestroy(): Promise<void> {
    // Upgrades that arrive from now on are refused (503); the handler stays, or Node would
    // drop them without a word.
    this.closing = true;
    if (this.pinger) clearInterval(this.pinger);
    await Promise.all(
      [...this.connections].map((connection) => connection.shutdown(CLOSE_GRACE_MS)),
    );
    this.server.close();
  }

  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    void this.upgrade(request, socket, head);
  };

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until ws owns the socket, a peer that resets it must not take the process down.
    const ignore = (): void => undefined;
    socket.on('error', ignore);
    const path = new URL(request.url ?? '/', 'http://ratchet').pathname;
    try {
      if (path !== RESPONSES_PATH) throw new NotFoundException();
      this.refuseWhileClosing();
      const principal = await authenticateBearer(request.headers.authorization, this.keys);
      this.refuseWhileClosing();
      this.server.handleUpgrade(request, socket, head, (ws) => {
        socket.off('error', ignore);
        const connection = new ResponsesConnection(ws, principal, dialectOf(request.headers), {
          responses: this.responses,
          streams: this.streams,
          logger: this.logger,
          conversationBytes: this.config.env.RATCHET_BODY_LIMIT_BYTES,
        });
        this.connections.add(connection);
        void connection.ended().then(() => this.connections.delete(connection));
      });
    } catch (error) {
      const [status, body] = describeError(
        error,
        `${request.method ?? 'GET'} ${path}`,
        this.logger,
      );
      refuseUpgrade(socket, status, body);
    }
  }

  private refuseWhileClosing(): void {
    if (this.closing) {
      throw new RatchetError(
        'unavailable',
        'This ratchet API process is shutting down; connect again (to another process) shortly.',
        { code: 'shutting_down' },
      );
    }
  }
}

/** Answers an upgrade request with a plain HTTP error in OpenAI's envelope, then hangs up. */
function refuseUpgrade(socket: Duplex, status: number, body: ErrorBody): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const json = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(json)}\r\n` +
      'Connection: close\r\n\r\n' +
      json,
  );
}
