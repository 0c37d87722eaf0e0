import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import type { ResponseRecord } from '@ratchet/core';
import { createRedis } from '@ratchet/queue';
import type { LoggedEvent } from '@ratchet/store';
import type { Redis } from 'ioredis';

/**
 * A notice that something happened to a response. Postgres holds the truth; a terminal
 * notice may carry the finished response as written there, sparing the reader a query.
 */
export interface TerminalNotice {
  type: 'terminal';
  responseId: string;
  /** The finished response (its dates as ISO text, as JSON has them). */
  record?: ResponseRecord;
}

/** Events just logged for a response, as Postgres numbered them. */
export interface EventsNotice {
  type: 'events';
  responseId: string;
  events: LoggedEvent[];
}

export type ResponseNotice = TerminalNotice | EventsNotice;

/**
 * Events travel in a frame of their own, not JSON, so their JSON text is neither escaped
 * nor parsed on the way: `E` and the response id, then one line per event,
 * `<sequence> <type> <data>` (JSON text has no raw line breaks).
 */
export function encodeEventsNotice(responseId: string, events: readonly LoggedEvent[]): string {
  let frame = `E ${responseId}`;
  for (const event of events) frame += `\n${event.sequence} ${event.type} ${event.data}`;
  return frame;
}

/**
 * A terminal notice travels as `T` and the response id, a line break, then the notice as JSON:
 * every API process receives every terminal notice, and one that no request of its own waits
 * for is let go by its id, without parsing the finished response it carries.
 */
export function encodeTerminalNotice(notice: TerminalNotice): string {
  return `T ${notice.responseId}\n${JSON.stringify(notice)}`;
}

/** The response a terminal notice is about, read from its frame alone. */
export function terminalNoticeId(message: string): string | null {
  if (!message.startsWith('T ')) return null;
  const end = message.indexOf('\n');
  return end < 0 ? null : message.slice(2, end);
}

export function decodeNotice(message: string): ResponseNotice {
  if (message.startsWith('T ')) {
    return JSON.parse(message.slice(message.indexOf('\n') + 1)) as TerminalNotice;
  }
  // A terminal notice as plain JSON: what a worker sent before the frame above.
  if (!message.startsWith('E ')) return JSON.parse(message) as TerminalNotice;
  const lines = message.split('\n');
  const events = lines.slice(1).map((line): LoggedEvent => {
    const space = line.indexOf(' ');
    const second = line.indexOf(' ', space + 1);
    return {
      sequence: Number(line.slice(0, space)),
      type: line.slice(space + 1, second),
      data: line.slice(second + 1),
    };
  });
  return { type: 'events', responseId: lines[0].slice(2), events };
}

/** Broadcast to every process: stop all work of this response now. */
export const CANCEL_CHANNEL = 'cancel';

/** Broadcast to every process: the worker of this id is to drain (an operator asked). */
export const DRAIN_CHANNEL = 'drain';

/**
 * Broadcast to every process: this response ended. One channel for all responses, so a
 * request waiting for one subscribes to nothing of its own (a process receives one message
 * per response, which it hands to whoever waits for that one, and parses only then: see
 * encodeTerminalNotice).
 */
export const TERMINAL_CHANNEL = 'terminal';

/**
 * Broadcast to every process: these responses were created, started or ended. Only their
 * ids, one a line (the hints of one event-loop turn go in one message): a live list (the
 * console) reads the rest from Postgres, for the tenants that may see it.
 */
export const CHANGES_CHANNEL = 'changes';

/**
 * Broadcast to every process: the worker of this id changed its drain state. Only its id: the
 * operations view reads the rest from Postgres.
 */
export const WORKERS_CHANNEL = 'workers';

type Listener = (notice: ResponseNotice) => void;
type RawListener = (message: unknown) => void;

interface ChannelEntry {
  listeners: Set<RawListener>;
  /** Turns a message into what listeners get, once per message however many listen. */
  decode: (message: string) => unknown;
  /** Resolves once Redis confirmed the subscription. */
  ready: Promise<unknown>;
}

/**
 * Live notices about responses across processes, over Redis pub/sub. Notices are hints, not
 * data: Postgres holds the truth, so a lost notice only delays a reader that also re-checks.
 * One subscriber connection per process serves every listener.
 */
@Injectable()
export class ResponseBus implements OnModuleDestroy {
  private readonly logger = new Logger(ResponseBus.name);
  private readonly prefix: string;
  private readonly redisUrl: string;
  private publisher: Redis | null = null;
  /** Change hints of this event-loop turn, published together at its end. */
  private changed: Set<string> | null = null;
  private subscriber: Redis | null = null;
  private subscriberReady: Promise<Redis> | null = null;
  private readonly listeners = new Map<string, ChannelEntry>();
  private readonly terminalListeners = new Map<string, Set<(notice: TerminalNotice) => void>>();
  private terminalReady: Promise<unknown> | null = null;
  private closed = false;

  constructor(config: AppConfig) {
    this.prefix = `${config.env.RATCHET_REDIS_PREFIX}:response:`;
    this.redisUrl = config.env.REDIS_URL;
  }

  async publish(notice: TerminalNotice): Promise<void> {
    await this.ensurePublisher().publish(
      this.prefix + TERMINAL_CHANNEL,
      encodeTerminalNotice(notice),
    );
  }

  /** Hands events, already durable in Postgres, to the live tails of every process. */
  async publishEvents(responseId: string, events: readonly LoggedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.ensurePublisher().publish(
      this.prefix + responseId,
      encodeEventsNotice(responseId, events),
    );
  }

  /** Tells every process to abort the in-flight work of a response. */
  async publishCancel(responseId: string): Promise<void> {
    await this.ensurePublisher().publish(this.prefix + CANCEL_CHANNEL, responseId);
  }

  /** Calls `listener` with the id of every response cancelled anywhere. */
  async onCancel(listener: (responseId: string) => void): Promise<() => Promise<void>> {
    return this.subscribeChannel(
      this.prefix + CANCEL_CHANNEL,
      (message) => message,
      (message) => listener(message as string),
    );
  }

  /** Tells the worker `workerId`, wherever it runs, that an operator asked it to drain. */
  async publishDrain(workerId: string): Promise<void> {
    await this.ensurePublisher().publish(this.prefix + DRAIN_CHANNEL, workerId);
  }

  /** Calls `listener` with the id of every worker asked to drain. */
  async onDrain(listener: (workerId: string) => void): Promise<() => Promise<void>> {
    return this.subscribeChannel(
      this.prefix + DRAIN_CHANNEL,
      (message) => message,
      (message) => listener(message as string),
    );
  }

  /**
   * Hints that a response appeared in, or moved within, the lists of responses. Not awaited
   * by the caller's work: a lost hint only leaves a list behind until its next change.
   */
  publishChange(responseId: string): void {
    if (this.changed) {
      this.changed.add(responseId);
      return;
    }
    const changed = new Set([responseId]);
    this.changed = changed;
    setImmediate(() => {
      this.changed = null;
      this.ensurePublisher()
        .publish(this.prefix + CHANGES_CHANNEL, [...changed].join('\n'))
        .catch((error: unknown) => this.logger.warn(`change notice lost: ${String(error)}`));
    });
  }

  /** Calls `listener` with the id of every response created, started or ended anywhere. */
  async onChange(listener: (responseId: string) => void): Promise<() => Promise<void>> {
    return this.subscribeChannel(
      this.prefix + CHANGES_CHANNEL,
      (message) => message.split('\n'),
      (ids) => (ids as string[]).forEach((id) => listener(id)),
    );
  }

  /** Hints that a worker's registration changed (it started or finished draining). */
  publishWorkerChange(workerId: string): void {
    // A process shutting down opens no new connection for a hint.
    if (this.closed) return;
    this.ensurePublisher()
      .publish(this.prefix + WORKERS_CHANNEL, workerId)
      .catch((error: unknown) => this.logger.warn(`worker notice lost: ${String(error)}`));
  }

  /** Calls `listener` with the id of every worker whose registration changed. */
  async onWorkerChange(listener: (workerId: string) => void): Promise<() => Promise<void>> {
    return this.subscribeChannel(
      this.prefix + WORKERS_CHANNEL,
      (message) => message,
      (message) => listener(message as string),
    );
  }

  private ensurePublisher(): Redis {
    // A batch of outcomes ends many responses in one turn: their notices go in one write.
    this.publisher ??= createRedis(this.redisUrl, 'ratchet-bus-pub', { pipelined: true });
    return this.publisher;
  }

  /**
   * Listens for a response's end; resolves once notices are flowing. Costs no Redis command
   * after the first call in a process.
   */
  async onTerminal(
    responseId: string,
    listener: (notice: TerminalNotice) => void,
  ): Promise<() => void> {
    this.terminalReady ??= this.subscribeTerminal();
    let set = this.terminalListeners.get(responseId);
    if (!set) {
      set = new Set();
      this.terminalListeners.set(responseId, set);
    }
    set.add(listener);
    const stop = (): void => {
      const current = this.terminalListeners.get(responseId);
      current?.delete(listener);
      if (current?.size === 0) this.terminalListeners.delete(responseId);
    };
    try {
      await this.terminalReady;
    } catch (error) {
      stop();
      throw error;
    }
    return stop;
  }

  /** The process's one subscription to terminal notices; tried again after a failure. */
  private subscribeTerminal(): Promise<unknown> {
    return this.subscribeChannel(
      this.prefix + TERMINAL_CHANNEL,
      (message) => message,
      (message) => {
        // Only a notice that someone here waits for is parsed.
        const id = terminalNoticeId(message as string);
        if (id !== null && !this.terminalListeners.has(id)) return;
        const notice = this.decode(message as string, TERMINAL_CHANNEL) as TerminalNotice | null;
        if (notice === null) return;
        for (const waiting of this.terminalListeners.get(notice.responseId) ?? []) {
          waiting(notice);
        }
      },
    ).catch((error: unknown) => {
      this.terminalReady = null;
      throw error;
    });
  }

  /**
   * Listens for everything about one response (its events as they are logged, and its
   * end); resolves once the subscription is active.
   */
  async subscribe(responseId: string, listener: Listener): Promise<() => Promise<void>> {
    const [stopEvents, stopTerminal] = await Promise.all([
      this.subscribeChannel(
        this.prefix + responseId,
        (message) => this.decode(message, responseId),
        (notice) => {
          if (notice !== null) listener(notice as ResponseNotice);
        },
      ),
      this.onTerminal(responseId, listener),
    ]);
    return async () => {
      stopTerminal();
      await stopEvents();
    };
  }

  private decode(message: string, channel: string): ResponseNotice | null {
    try {
      return decodeNotice(message);
    } catch {
      this.logger.warn(`ignoring a malformed notice on ${channel}`);
      return null;
    }
  }

  private async subscribeChannel(
    channel: string,
    decode: (message: string) => unknown,
    listener: RawListener,
  ): Promise<() => Promise<void>> {
    const subscriber = await this.ensureSubscriber();
    let entry = this.listeners.get(channel);
    if (!entry) {
      entry = { listeners: new Set(), decode, ready: subscriber.subscribe(channel) };
      this.listeners.set(channel, entry);
    }
    entry.listeners.add(listener);
    await entry.ready;
    return async () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.listeners.delete(listener);
      if (current.listeners.size === 0) {
        this.listeners.delete(channel);
        await subscriber.unsubscribe(channel);
      }
    };
  }

  /**
   * The subscriber connection, once ready: a SUBSCRIBE sent while ioredis is still
   * connecting would put the connection in subscriber mode before its ready check runs.
   */
  private ensureSubscriber(): Promise<Redis> {
    if (this.subscriberReady) return this.subscriberReady;
    const subscriber = createRedis(this.redisUrl, 'ratchet-bus-sub');
    subscriber.on('message', (channel: string, message: string) => {
      const entry = this.listeners.get(channel);
      if (!entry) return;
      const decoded = entry.decode(message);
      for (const listener of entry.listeners) listener(decoded);
    });
    this.subscriber = subscriber;
    this.subscriberReady = new Promise((resolve) => {
      if (subscriber.status === 'ready') resolve(subscriber);
      else subscriber.once('ready', () => resolve(subscriber));
    });
    return this.subscriberReady;
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    await Promise.all([this.publisher?.quit(), this.subscriber?.quit()]);
  }
}
