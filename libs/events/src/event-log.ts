import { Injectable, Logger } from '@nestjs/common';
import {
  assembleResponse,
  responseEvent,
  storableJson,
  type ResponseRecord,
  type TerminalEventType,
  type UnsequencedEvent,
} from '@ratchet/core';
import { EventsRepository, type AppendOptions, type LoggedEvent } from '@ratchet/store';
import { observeEventLogWrite } from '@ratchet/telemetry';
import { ResponseBus } from './response-bus';

/**
 * How long a writer gathers deltas before logging them as one batch. 0 writes at once when
 * no batch is being written; deltas that arrive meanwhile still go out together.
 */
export const DEFAULT_LINGER_MS = 0;

const TERMINAL_EVENT: Record<TerminalStatus, TerminalEventType> = {
  completed: 'response.completed',
  failed: 'response.failed',
  incomplete: 'response.incomplete',
  cancelled: 'response.cancelled',
};

type TerminalStatus = 'completed' | 'failed' | 'incomplete' | 'cancelled';

/**
 * A response's event log: persist in Postgres, then publish to live tails over Redis. A
 * publish that fails loses nothing (tails fill gaps from Postgres); a persist that fails
 * publishes nothing.
 */
@Injectable()
export class EventLog {
  private readonly logger = new Logger(EventLog.name);

  constructor(
    private readonly events: EventsRepository,
    private readonly bus: ResponseBus,
  ) {}

  /** Logs events; false when the log is closed (the response ended). */
  async append(
    responseId: string,
    events: readonly UnsequencedEvent[],
    options: AppendOptions = {},
  ): Promise<boolean> {
    const started = performance.now();
    const logged = await this.events.append(responseId, storableEvents(events), options);
    observeEventLogWrite('append', started);
    return this.published(responseId, logged);
  }

  /** Logs events unless the step (or an event of `unlessType`) logged some already. */
  async appendOnce(
    responseId: string,
    events: readonly UnsequencedEvent[],
    options: AppendOptions & { unlessType?: string },
  ): Promise<boolean> {
    const started = performance.now();
    const logged = await this.events.appendOnce(responseId, storableEvents(events), options);
    observeEventLogWrite('append_once', started);
    return this.published(responseId, logged);
  }

  /**
   * Ends a finished response's log with its terminal event, after closing what was still
   * streaming. Safe to call more than once, from anywhere: only the first call logs.
   */
  async close(record: ResponseRecord): Promise<void> {
    const type = TERMINAL_EVENT[record.status as TerminalStatus];
    if (!type) throw new Error(`response ${record.id} is ${record.status}, not finished`);
    const started = performance.now();
    const logged = await this.events.close(
      record.id,
      storableJson(responseEvent(type, assembleResponse(record))),
      storableJson(record.output ?? []),
    );
    observeEventLogWrite('close', started);
    this.published(record.id, logged);
  }

  async nextOutputIndex(scopeId: string): Promise<number> {
    return this.events.nextOutputIndex(scopeId);
  }

  /** A writer that batches a step's events (see BatchedWriter). */
  writer(responseId: string, options: WriterOptions): BatchedWriter {
    return new BatchedWriter(this, responseId, options);
  }

  /**
   * Publishes events already durable in Postgres, without waiting for Redis: a writer's next
   * batch, and the step's record after it, must not wait out a Redis outage. One connection
   * publishes everything, so publications keep their order; one that fails loses nothing
   * (live tails read Postgres when they see a gap, or after a quiet spell).
   */
  private published(responseId: string, logged: LoggedEvent[] | null): boolean {
    if (logged === null) return false;
    this.bus.publishEvents(responseId, logged).catch((error: unknown) => {
      this.logger.warn(`events of ${responseId} logged but not published: ${String(error)}`);
    });
    return true;
  }
}

export interface WriterOptions {
  stepId: string;
  /** The scope whose output items the events announce (its stream_items counter). */
  scopeId: string;
  lingerMs?: number;
  /** Rewrites each event before it is logged (a sub-agent's events are wrapped). */
  wrap?: (event: UnsequencedEvent) => UnsequencedEvent;
}

/**
 * Logs a streaming step's events in batches: the first event after a quiet spell waits
 * `lingerMs` for company (with 0, only for the current tick), and events that arrive while a
 * batch is being written go out together in the next. Batches are written one at a time, in order. Once the log refuses a
 * batch (the response ended), later events are dropped.
 */
export class BatchedWriter {
  private buffer: UnsequencedEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  private failure: Error | null = null;
  private readonly lingerMs: number;

  constructor(
    private readonly log: EventLog,
    private readonly responseId: string,
    private readonly options: WriterOptions,
  ) {
    this.lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
  }

  push(events: readonly UnsequencedEvent[]): void {
    if (this.closed || events.length === 0) return;
    const wrap = this.options.wrap;
    for (const event of events) this.buffer.push(wrap ? wrap(event) : event);
    if (this.timer !== null || this.scheduled) return;
    if (this.lingerMs === 0) {
      // The writes are chained, so a batch started now waits for the one being written and
      // takes everything that arrived until it starts.
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.startBatch();
      });
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.startBatch();
    }, this.lingerMs);
  }

  /** Writes everything pushed so far; rejects if any batch could not be written. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.startBatch();
    await this.writing;
    if (this.failure !== null) throw this.failure;
  }

  private startBatch(): void {
    this.writing = this.writing.then(() => this.writeBatch());
  }

  private async writeBatch(): Promise<void> {
    const batch = this.buffer;
    if (batch.length === 0 || this.closed) return;
    this.buffer = [];
    // Items are counted where they are announced; a wrapped sub-agent item is the child's.
    const announced = batch.filter(isItemAdded).length;
    try {
      const open = await this.log.append(this.responseId, batch, {
        stepId: this.options.stepId,
        items: announced > 0 ? { scopeId: this.options.scopeId, count: announced } : null,
      });
      if (!open) this.closed = true;
    } catch (error) {
      this.failure ??= error instanceof Error ? error : new Error(String(error));
      this.closed = true;
    }
  }
}

/**
 * Events as the store can hold them (see storableText in @ratchet/core): what is published
 * live is what was logged, so live tails and replays read the same replacement characters.
 */
function storableEvents(events: readonly UnsequencedEvent[]): readonly UnsequencedEvent[] {
  return storableJson(events);
}

function isItemAdded(event: UnsequencedEvent): boolean {
  if (event.type === 'response.output_item.added') return true;
  const inner = (event as { event?: { type?: string } }).event;
  return inner?.type === 'response.output_item.added';
}
