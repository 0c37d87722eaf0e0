import type { Logger } from '@nestjs/common';
import { RatchetError, type EventDialect, type Item, type ResponseObject } from '@ratchet/core';
import type { Principal } from '@ratchet/store';
import { WebSocket, type RawData } from 'ws';
import { describeError } from '../errors/describe-error';
import { newRequestId } from '../http/request-id';
import type { EventStreamService } from '../responses/event-stream.service';
import type { ResponsesService } from '../responses/responses.service';
import { goneWhenAborted } from '../responses/terminal-waits';
import { parseResponseCreate } from './client-events';
import { ConversationCache } from './conversation-cache';
import { WebSocketSink } from './websocket-sink';

/** Why a connection's signal aborts; shared, since a DOMException per connection costs a stack. */
const CONNECTION_CLOSED = new Error('The WebSocket connection closed.');

export interface ConnectionServices {
  responses: ResponsesService;
  streams: EventStreamService;
  logger: Logger;
  /** Byte budget of the connection's held store:false conversations. */
  conversationBytes: number;
}

/**
 * One authenticated WebSocket on /v1/responses. Each `response.create` message runs one
 * response through the same create path as POST /v1/responses and streams its events back;
 * responses run one at a time. A failure is an `error` message (OpenAI's envelope plus the
 * HTTP status it would have had), after which the connection takes the next request.
 *
 * The connection holds what its store:false responses produced, so they can be continued on
 * it (and nowhere else) with previous_response_id; a failed continuation forgets the response
 * it continued. Closing the socket never touches a response: its run belongs to the workers.
 */
export class ResponsesConnection {
  private readonly conversations: ConversationCache;
  private readonly closedSignal = new AbortController();
  private readonly closed: Promise<void>;
  private readonly turns = new Set<Promise<void>>();
  /** A response is streaming and its terminal event has not gone out yet. */
  private busy = false;
  /** The peer showed signs of life since the last ping. */
  private alive = true;

  constructor(
    private readonly socket: WebSocket,
    private readonly principal: Principal,
    /** How the client names events: from the headers of its upgrade request. */
    private readonly dialect: EventDialect,
    private readonly services: ConnectionServices,
  ) {
    this.conversations = new ConversationCache(services.conversationBytes);
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.closedSignal.abort(CONNECTION_CLOSED);
        resolve();
      });
    });
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    // Protocol errors (an oversized or malformed frame): ws closes the socket with the
    // matching code (1009, 1002, ...) right after; an unheard 'error' would crash the process.
    socket.on('error', (error) => services.logger.debug(`connection error: ${error.message}`));
  }

  /** Resolves once the socket is closed and every turn of it has let go of its stream. */
  async ended(): Promise<void> {
    await this.closed;
    while (this.turns.size > 0) await Promise.all(this.turns);
  }

  /** Pings the peer; one that has not answered since the last ping is gone. */
  ping(): void {
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    if (this.socket.readyState === WebSocket.OPEN) this.socket.ping();
  }

  /** Says goodbye (1001, going away); a peer that does not answer within `graceMs` is cut. */
  async shutdown(graceMs: number): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.close(1001, 'ratchet is shutting down');
    }
    const cut = setTimeout(() => this.socket.terminate(), graceMs);
    try {
      await this.ended();
    } finally {
      clearTimeout(cut);
    }
  }

  private receive(data: RawData, isBinary: boolean): void {
    this.alive = true;
    if (this.busy) {
      this.sendError(
        new RatchetError(
          'conflict',
          'A response is already in flight on this connection. Send the next response.create after its terminal event, or open another connection to run responses in parallel.',
          { code: 'response_already_in_flight' },
        ),
      );
      return;
    }
    this.busy = true;
    const turn: Promise<void> = this.runTurn(data, isBinary).finally(() => this.turns.delete(turn));
    this.turns.add(turn);
  }

  private async runTurn(data: RawData, isBinary: boolean): Promise<void> {
    let previousId: string | null = null;
    try {
      const body = parseResponseCreate(data, isBinary);
      if (typeof body.previous_response_id === 'string') previousId = body.previous_response_id;
      const created = await this.services.responses.create(
        body,
        this.principal,
        goneWhenAborted(this.closedSignal.signal),
        { heldConversation: (id) => this.conversations.get(id) },
      );
      if (created.type !== 'stream') throw new Error('response.create did not stream');
      const sink = new WebSocketSink(this.socket, (response) =>
        this.turnEnded(response, previousId, created.context),
      );
      const finished = await this.services.streams.follow(
        created.responseId,
        -1,
        sink,
        this.dialect,
      );
      if (!finished && this.socket.readyState === WebSocket.OPEN) {
        throw new RatchetError(
          'unavailable',
          `The event stream of response '${created.responseId}' broke off before its end; the response itself runs on.`,
          { code: 'stream_interrupted' },
        );
      }
    } catch (error) {
      if (previousId) this.conversations.forget(previousId);
      this.busy = false;
      this.sendError(error);
    }
  }

  /**
   * The turn's terminal event is about to go out: from here the connection takes the next
   * request, which may continue this response.
   */
  private turnEnded(response: ResponseObject, previousId: string | null, context: Item[] | null) {
    this.busy = false;
    if (response.status === 'failed') {
      if (previousId) this.conversations.forget(previousId);
      return;
    }
    if (response.store === false && context) {
      this.conversations.remember(response.id, [...context, ...response.output]);
    }
  }

  /** An `error` message: OpenAI's envelope, the status HTTP would have answered, a code always. */
  private sendError(error: unknown): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const [status, body] = describeError(
      error,
      'WebSocket response.create',
      this.services.logger,
      newRequestId(),
    );
    const code = body.error.code ?? body.error.type;
    this.socket.send(JSON.stringify({ type: 'error', status, error: { ...body.error, code } }));
  }
}
