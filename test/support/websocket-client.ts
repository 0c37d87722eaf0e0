import WebSocket from 'ws';

// A test client for WebSocket mode: it queues what the server sends, so a test reads the
// messages one by one or a whole turn at once, always with a deadline.

export type WsMessage = { type: string } & Record<string, unknown>;

const TERMINAL_TYPES = new Set(['response.completed', 'response.failed', 'response.incomplete']);

/** Whether a message ends a turn: a terminal response event, or an error. */
export const endsTurn = (message: WsMessage): boolean =>
  TERMINAL_TYPES.has(message.type) || message.type === 'error';

/** The refusal of an upgrade: its HTTP status and JSON body. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`upgrade refused with ${status}`);
  }
}

export class ResponsesSocket {
  private readonly received: WsMessage[] = [];
  private wake: (() => void) | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;
  pings = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.received.push(JSON.parse((data as Buffer).toString('utf8')) as WsMessage);
      this.notify();
    });
    socket.on('ping', () => {
      this.pings += 1;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        this.notify();
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  /** Opens `ws://.../v1/responses` with the key (none when null); a refused upgrade rejects. */
  static open(
    httpUrl: string,
    key: string | null,
    path = '/v1/responses',
  ): Promise<ResponsesSocket> {
    const url = `${httpUrl.replace(/^http/, 'ws')}${path}`;
    const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers, handshakeTimeout: 10_000 });
      socket.once('open', () => resolve(new ResponsesSocket(socket)));
      socket.once('unexpected-response', (_request, response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () =>
          reject(new UpgradeRefused(response.statusCode ?? 0, JSON.parse(text) as unknown)),
        );
      });
      socket.once('error', reject);
    });
  }

  /** Sends a `response.create` message with the given create-body fields. */
  create(body: Record<string, unknown>): void {
    this.sendRaw(JSON.stringify({ type: 'response.create', ...body }));
  }

  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  /** The next message the server sends, waiting up to `timeoutMs`. */
  async next(timeoutMs = 15_000): Promise<WsMessage> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error('socket closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.received.shift()!;
  }

  /** The messages of one turn, through the one that ends it. */
  async turnMessages(timeoutMs = 15_000): Promise<WsMessage[]> {
    const messages: WsMessage[] = [];
    for (;;) {
      const message = await this.next(timeoutMs);
      messages.push(message);
      if (endsTurn(message)) return messages;
    }
  }

  /** Sends a response.create and reads its turn. */
  async turn(body: Record<string, unknown>, timeoutMs = 15_000): Promise<WsMessage[]> {
    this.create(body);
    return this.turnMessages(timeoutMs);
  }

  /** Whether no message arrives within `ms`. */
  async quietFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.received.length === 0;
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000);
    await this.closed;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
