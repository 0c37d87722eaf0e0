import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { isTerminalEvent, isTerminalStatus, presentEvent, type EventDialect } from '@ratchet/core';
import { EventLog, ResponseBus } from '@ratchet/events';
import { EventsRepository, ResponsesRepository, type LoggedEvent } from '@ratchet/store';
import type { Response } from 'express';
import type { EventSink } from './event-sink';
import { SseSink } from './sse-sink';

/** Events read from Postgres per query while replaying. */
const REPLAY_PAGE = 1000;

/**
 * A response that ended without its terminal event this long after the terminal notice (its
 * writer died in between) gets the event from the tail itself.
 */
const TERMINAL_GRACE_MS = 2000;

/**
 * Live events are hints: a worker that dies between logging events and publishing them
 * leaves them in Postgres alone. A tail that has heard nothing for a while reads Postgres
 * for what follows its cursor, first after TERMINAL_GRACE_MS, then twice as long each time
 * it finds nothing, up to this; any live event resets it.
 */
const IDLE_RECHECK_MAX_MS = 15_000;

/**
 * Streams a response's event log to a sink (SSE, or a WebSocket turn): replays from Postgres
 * what follows the cursor, then follows live events from Redis until the terminal event.
 * It subscribes before it replays and drops live events it has already sent, so the
 * hand-over loses and doubles nothing; a live event that skips a number sends it back to
 * Postgres for the missing ones. An idle stream costs a timer and, less and less often, one
 * query for events whose publication was lost.
 */
@Injectable()
export class EventStreamService {
  private readonly logger = new Logger(EventStreamService.name);
  private readonly keepaliveMs: number;

  constructor(
    config: AppConfig,
    private readonly events: EventsRepository,
    private readonly responses: ResponsesRepository,
    private readonly log: EventLog,
    private readonly bus: ResponseBus,
  ) {
    this.keepaliveMs = config.env.RATCHET_SSE_KEEPALIVE_MS;
  }

  /** Streams events after `after` to `res` as SSE; resolves when it ends or the client left. */
  async stream(
    responseId: string,
    after: number,
    res: Response,
    dialect: EventDialect,
  ): Promise<void> {
    await this.follow(responseId, after, new SseSink(res), dialect);
  }

  /**
   * Sends the events after `after` to `sink`, through the terminal event, named as `dialect`
   * names them. Resolves true once the terminal event was sent, false when the receiver went
   * away (or the stream broke off) before. What the receiver does never touches the response.
   */
  async follow(
    responseId: string,
    after: number,
    sink: EventSink,
    dialect: EventDialect,
  ): Promise<boolean> {
    const tail = new Tail(responseId, after, sink, dialect);
    const stopWatching = sink.onGone(() => tail.stop());
    let unsubscribe: () => Promise<void>;
    try {
      unsubscribe = await this.bus.subscribe(responseId, (notice) => {
        if (notice.type === 'events') tail.live(notice.events);
        else tail.terminalNoticed();
      });
    } catch (error) {
      // Nothing was sent yet: the caller can still answer with an error.
      stopWatching();
      throw error;
    }
    sink.open();
    const keepalive = setInterval(() => tail.keepalive(), this.keepaliveMs);
    try {
      await this.run(tail);
    } catch (error) {
      this.logger.warn(`stream of ${responseId} broke off: ${String(error)}`);
    } finally {
      clearInterval(keepalive);
      stopWatching();
      await unsubscribe().catch(() => undefined);
      sink.close();
    }
    return tail.finished;
  }

  private async run(tail: Tail): Promise<void> {
    let idleMs = TERMINAL_GRACE_MS;
    while (!tail.stopped) {
      if (tail.needsReplay) {
        tail.needsReplay = false;
        let page: LoggedEvent[];
        do {
          page = await this.events.after(tail.responseId, tail.last, REPLAY_PAGE);
          for (const event of page) await tail.send(event);
        } while (page.length === REPLAY_PAGE && !tail.finished && !tail.stopped);
      }
      tail.drainLive();
      await tail.flushed();
      if (tail.finished) {
        tail.done();
        return;
      }
      if (tail.needsReplay) continue;
      if (await tail.wait(idleMs)) {
        idleMs = TERMINAL_GRACE_MS;
        continue;
      }
      if (tail.terminalSeen) await this.repairTerminal(tail.responseId);
      tail.needsReplay = true;
      idleMs = Math.min(idleMs * 2, IDLE_RECHECK_MAX_MS);
    }
  }

  /** Logs the terminal event of a response that ended without one. */
  private async repairTerminal(responseId: string): Promise<void> {
    const record = await this.responses.findById(responseId);
    if (record && isTerminalStatus(record.status)) await this.log.close(record);
  }
}

/** One receiver's stream: what it has been sent, and the live events not yet sent. */
class Tail {
  last: number;
  needsReplay = true;
  finished = false;
  stopped = false;
  terminalSeen = false;
  private pending: LoggedEvent[] = [];
  private wake: ((woke: boolean) => void) | null = null;
  private draining: Promise<void> | null = null;

  constructor(
    readonly responseId: string,
    after: number,
    private readonly sink: EventSink,
    private readonly dialect: EventDialect,
  ) {
    this.last = after;
  }

  live(events: LoggedEvent[]): void {
    for (const event of events) this.pending.push(event);
    this.notify(true);
  }

  terminalNoticed(): void {
    this.terminalSeen = true;
    this.notify(true);
  }

  stop(): void {
    this.stopped = true;
    this.notify(false);
  }

  /** Sends the live events that continue the stream; a gap asks for a replay instead. */
  drainLive(): void {
    const pending = this.pending;
    this.pending = [];
    for (const event of pending) {
      if (this.finished || this.needsReplay) break;
      if (event.sequence <= this.last) continue;
      if (event.sequence !== this.last + 1) {
        this.needsReplay = true;
        break;
      }
      void this.send(event);
    }
  }

  /** Sends the event that follows the last one sent; waits while the receiver has a backlog. */
  send(event: LoggedEvent): Promise<void> {
    if (this.finished || this.stopped || event.sequence !== this.last + 1) {
      return Promise.resolve();
    }
    this.last = event.sequence;
    if (isTerminalEvent(event.type)) this.finished = true;
    if (this.sink.send(presentEvent(event, this.dialect))) return Promise.resolve();
    this.draining ??= this.sink.drained().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  /** Resolves once the receiver took what was sent (at once unless it is slow). */
  async flushed(): Promise<void> {
    while (this.draining) await this.draining;
  }

  done(): void {
    if (!this.stopped) this.sink.finish();
  }

  keepalive(): void {
    if (!this.stopped) this.sink.keepalive();
  }

  /** Waits for live events or the end; resolves false when `ms` passed without either. */
  wait(ms: number): Promise<boolean> {
    if (this.pending.length > 0 || this.stopped) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.notify(false), ms);
      this.wake = (woke) => {
        clearTimeout(timer);
        resolve(woke);
      };
    });
  }

  private notify(woke: boolean): void {
    const wake = this.wake;
    this.wake = null;
    wake?.(woke);
  }
}
