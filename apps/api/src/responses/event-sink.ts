import type { LoggedEvent } from '@ratchet/store';

/**
 * Where a followed event stream goes. The tail in EventStreamService replays a response's
 * events from Postgres and follows them live from Redis; a sink is the only part that knows
 * the transport: an SSE response (SseSink) or one turn on a WebSocket (WebSocketSink).
 */
export interface EventSink {
  /** Calls `listener` once the receiver is gone (at once if it already is); returns a remover. */
  onGone(listener: () => void): () => void;
  /** Called once, before the first event. */
  open(): void;
  /** Sends one event as one message; false when the receiver has a backlog to take first. */
  send(event: LoggedEvent): boolean;
  /** Resolves once the receiver took its backlog, or went away. */
  drained(): Promise<void>;
  /** Keeps an idle stream from looking dead; a no-op where the transport pings by itself. */
  keepalive(): void;
  /** The terminal event was sent: marks the end where the transport has a marker. */
  finish(): void;
  /** The stream is over, however it ended: let go of the receiver. */
  close(): void;
}
