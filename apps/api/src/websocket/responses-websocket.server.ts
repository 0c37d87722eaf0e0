import type { IncomingMessage, Server } from 'node:http';
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
import { writeRawError } from '../http/raw-answer';
import { REQUEST_ID_HEADER, requestIdOf } from '../http/request-id';
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
    this.server.on('headers', (headers, request) => {
      headers.push(`${REQUEST_ID_HEADER}: ${requestIdOf(request)}`);
    });
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
    const path = pathOf(request.url);
    try {
      if (path !== RESPONSES_PATH) throw new NotFoundException();
      this.refuseWhileClosing();
      const principal = await authenticateBearer(request.headers.authorization, this.keys);
      refuseBadHandshake(request);
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
      const requestId = requestIdOf(request);
      const [status, body] = describeError(
        error,
        `${request.method ?? 'GET'} ${path}`,
        this.logger,
        requestId,
      );
      writeRawError(socket, status, body, requestId);
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

/** The path of a request target; any target that is no URL path (`//x`, `http://[`) is none. */
function pathOf(target: string | undefined): string {
  try {
    return new URL(target ?? '/', 'http://ratchet').pathname;
  } catch {
    return target ?? '/';
  }
}

/**
 * The checks ws makes before it upgrades, made first so that a bad handshake is refused in
 * OpenAI's envelope (ws would answer in plain text).
 */
function refuseBadHandshake(request: IncomingMessage): void {
  const fault = (message: string, param: string): RatchetError =>
    RatchetError.invalid(message, param, 'invalid_websocket_handshake');
  if (request.method !== 'GET') {
    throw fault('A WebSocket handshake is a GET request.', 'method');
  }
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') {
    throw fault("The Upgrade header must be 'websocket'.", 'Upgrade');
  }
  const key = request.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key.trim())) {
    throw fault('Missing or invalid Sec-WebSocket-Key header.', 'Sec-WebSocket-Key');
  }
  const version = request.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') {
    throw fault('Sec-WebSocket-Version must be 13.', 'Sec-WebSocket-Version');
  }
}
