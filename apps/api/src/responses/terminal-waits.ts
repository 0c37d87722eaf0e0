import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { isTerminalStatus, RatchetError, type ResponseRecord } from '@ratchet/core';
import { ResponseBus } from '@ratchet/events';
import { ResponsesRepository } from '@ratchet/store';

/**
 * Terminal notices are hints that may be lost (a worker that dies between ending a response
 * and publishing, a Redis outage), so waiting requests are checked in Postgres this often:
 * all of a process's waiting requests in one query, however many there are.
 */
export const TERMINAL_RECHECK_MS = 1000;

/**
 * How a waiting request learns that its client has gone (its HTTP exchange or WebSocket
 * closed): calls `listener` once when it goes, at once if it has; returns what stops
 * listening. A callback rather than an AbortSignal: a signal, its controller and its listener
 * were close to a kilobyte of each waiting request's 16 (docs/memory.md, "What a waiting
 * request holds").
 */
export type ClientGone = (listener: () => void) => () => void;

/** ClientGone for a client whose going aborts `signal`. */
export function goneWhenAborted(signal: AbortSignal): ClientGone {
  return (listener) => {
    if (signal.aborted) {
      listener();
      return () => undefined;
    }
    signal.addEventListener('abort', listener, { once: true });
    return () => signal.removeEventListener('abort', listener);
  };
}

/** A request waiting for its response to end (see TerminalWaits.watch). */
export interface TerminalWait {
  /**
   * Resolves with the response once it has ended; when its client goes first, with the
   * response as it is then.
   */
  ended(gone: ClientGone): Promise<ResponseRecord>;
  /** Stops waiting. */
  close(): void;
}

interface Waiter {
  id: string;
  resolve(record: ResponseRecord): void;
  reject(error: Error): void;
}

/**
 * Foreground requests waiting for their responses to end. Each is woken by its response's
 * terminal notice on Redis; the notices that never come are made up for by one query a
 * second for all the waits of this process, so 2,000 waiting requests cost a query a second,
 * not 2,000.
 */
@Injectable()
export class TerminalWaits implements OnModuleDestroy {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(
    private readonly responses: ResponsesRepository,
    private readonly bus: ResponseBus,
  ) {}

  /**
   * Starts listening for a response's end: before its work is queued, so that no notice can
   * slip past.
   */
  async watch(id: string): Promise<TerminalWait> {
    let finished: ResponseRecord | null = null;
    let waiter: Waiter | null = null;
    const settle = (record: ResponseRecord): void => {
      finished ??= record;
      waiter?.resolve(record);
    };
    const unsubscribe = await this.bus.onTerminal(id, (notice) => {
      if (notice.record) return settle(reviveRecord(notice.record));
      // A notice without the record (a cancel elsewhere): read it.
      this.responses.findById(id).then(
        (record) => record && isTerminalStatus(record.status) && settle(record),
        () => undefined,
      );
    });
    return {
      ended: (gone) =>
        new Promise<ResponseRecord>((resolve, reject) => {
          if (finished) return resolve(finished);
          let stopListening = (): void => undefined;
          const done = (): void => {
            stopListening();
            this.remove(current);
          };
          const current: Waiter = {
            id,
            resolve: (record) => {
              done();
              resolve(record);
            },
            reject: (error) => {
              done();
              reject(error);
            },
          };
          const onGone = (): void => {
            this.responses.findById(id).then(
              (record) =>
                record
                  ? current.resolve(record)
                  : current.reject(RatchetError.responseNotFound(id)),
              (error: unknown) =>
                current.reject(error instanceof Error ? error : new Error(String(error))),
            );
          };
          waiter = current;
          this.add(current);
          stopListening = gone(onGone);
        }),
      close: () => {
        unsubscribe();
        if (waiter) this.remove(waiter);
      },
    };
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private add(waiter: Waiter): void {
    let set = this.waiters.get(waiter.id);
    if (!set) {
      set = new Set();
      this.waiters.set(waiter.id, set);
    }
    set.add(waiter);
    this.timer ??= setInterval(() => void this.check(), TERMINAL_RECHECK_MS);
  }

  private remove(waiter: Waiter): void {
    const set = this.waiters.get(waiter.id);
    set?.delete(waiter);
    if (set?.size === 0) this.waiters.delete(waiter.id);
    if (this.waiters.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /**
   * One query for every response waited for: those that ended wake their waiters, and those
   * that no longer exist (deleted meanwhile, or lost when Postgres crashed before a relaxed
   * commit reached the disk) end their waits with an error.
   */
  private async check(): Promise<void> {
    if (this.checking || this.waiters.size === 0) return;
    this.checking = true;
    try {
      const { ended, missing } = await this.responses.findEnded([...this.waiters.keys()]);
      for (const record of ended) {
        for (const waiter of [...(this.waiters.get(record.id) ?? [])]) waiter.resolve(record);
      }
      for (const id of missing) {
        for (const waiter of [...(this.waiters.get(id) ?? [])]) {
          waiter.reject(RatchetError.responseGone(id));
        }
      }
    } catch {
      // Postgres away: the next check, or the notice, will do.
    } finally {
      this.checking = false;
    }
  }
}

/** A record that travelled as JSON: its dates are text again. */
function reviveRecord(record: ResponseRecord): ResponseRecord {
  return {
    ...record,
    createdAt: new Date(record.createdAt),
    completedAt: record.completedAt === null ? null : new Date(record.completedAt),
  };
}
