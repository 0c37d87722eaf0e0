import { isTerminalEvent, type ResponseObject } from '@ratchet/core';
import type { LoggedEvent } from '@ratchet/store';
import { WebSocket } from 'ws';
import type { EventSink } from '../responses/event-sink';

/** Bytes handed to the socket and not yet written out, past which a turn waits for them. */
const HIGH_WATER_BYTES = 1024 * 1024;

/**
 * One turn of a WebSocket connection: each event goes out as one JSON text message (the
 * `data` of the SSE stream, same order and numbers). A turn ends with its terminal event;
 * the socket stays open for the next one, and its pings keep it alive, so the sink has no
 * end marker and no keepalive of its own. `onTerminal` learns the final response just
 * before its event goes out, so the connection is ready for the next turn before the client
 * can ask for one.
 */
export class WebSocketSink implements EventSink {
  private unwrittenBytes = 0;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly socket: WebSocket,
    private readonly onTerminal: (response: ResponseObject) => void,
  ) {}

  onGone(listener: () => void): () => void {
    if (this.socket.readyState !== WebSocket.OPEN) {
      listener();
      return () => undefined;
    }
    this.socket.once('close', listener);
    return () => this.socket.off('close', listener);
  }

  open(): void {}

  send(event: LoggedEvent): boolean {
    if (this.socket.readyState !== WebSocket.OPEN) return true;
    if (isTerminalEvent(event.type)) {
      this.onTerminal((JSON.parse(event.data) as { response: ResponseObject }).response);
    }
    const bytes = event.data.length;
    this.unwrittenBytes += bytes;
    this.socket.send(event.data, () => {
      this.unwrittenBytes -= bytes;
      if (this.unwrittenBytes < HIGH_WATER_BYTES) this.wakeAll();
    });
    return this.unwrittenBytes < HIGH_WATER_BYTES;
  }

  drained(): Promise<void> {
    if (this.unwrittenBytes < HIGH_WATER_BYTES || this.socket.readyState !== WebSocket.OPEN) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('close', done);
        this.waiters.delete(done);
        resolve();
      };
      this.waiters.add(done);
      this.socket.once('close', done);
    });
  }

  keepalive(): void {}

  finish(): void {}

  close(): void {
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
