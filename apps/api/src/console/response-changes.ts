import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { ResponseBus } from '@ratchet/events';
import { ResponseListRepository, type Principal, type ResponseOwnership } from '@ratchet/store';
import type { Response } from 'express';

/** Changes noticed within this long are told together: one query, one message per watcher. */
const COALESCE_MS = 150;

/** A watcher's stream ends after this long; the console reconnects (and re-reads its list). */
const MAX_LIFETIME_MS = 60 * 60 * 1000;

interface Watcher {
  principal: Principal;
  send(changes: ResponseOwnership[]): void;
  /** Admin keys only: workers whose drain state changed. */
  sendWorkers(workerIds: string[]): void;
}

/**
 * GET /v1/console/changes: tells each watching console which of the responses its key may
 * see were created, started or ended, as server-sent events, and an admin key's console also
 * which workers changed their drain state. The process listens on the bus's changes and
 * workers channels only while someone watches, and a burst of changes costs one query
 * for the lot, so an idle console costs a keepalive comment now and then and nothing else.
 */
@Injectable()
export class ResponseChanges implements OnModuleDestroy {
  private readonly logger = new Logger(ResponseChanges.name);
  private readonly keepaliveMs: number;
  private readonly watchers = new Set<Watcher>();
  private unsubscribe: Promise<() => Promise<void>> | null = null;
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly streams = new Set<AbortController>();

  constructor(
    config: AppConfig,
    private readonly bus: ResponseBus,
    private readonly list: ResponseListRepository,
  ) {
    this.keepaliveMs = config.env.RATCHET_SSE_KEEPALIVE_MS;
  }

  /** Streams changes to `res` until the client leaves or the stream's lifetime ends. */
  async stream(principal: Principal, res: Response): Promise<void> {
    const controller = new AbortController();
    const { signal } = controller;
    this.streams.add(controller);
    res.once('close', () => controller.abort());
    const write = (text: string): void => {
      if (!signal.aborted && !res.writableEnded) res.write(text);
    };
    const watcher: Watcher = {
      principal,
      send: (changes) =>
        write(`event: changes\ndata: ${JSON.stringify({ type: 'changes', data: changes })}\n\n`),
      sendWorkers: (workerIds) =>
        write(`event: workers\ndata: ${JSON.stringify({ type: 'workers', data: workerIds })}\n\n`),
    };
    try {
      await this.watch(watcher);
    } catch (error) {
      this.streams.delete(controller);
      throw error;
    }
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    // Says the watch is on: changes from here are told, so a list read after it is current.
    write(`event: ready\ndata: {"type":"ready"}\n\n`);
    const keepalive = setInterval(() => write(': keepalive\n\n'), this.keepaliveMs);
    const lifetime = setTimeout(() => controller.abort(), MAX_LIFETIME_MS);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(keepalive);
    clearTimeout(lifetime);
    this.streams.delete(controller);
    await this.unwatch(watcher);
    if (!res.writableEnded) res.end();
  }

  private async watch(watcher: Watcher): Promise<void> {
    this.watchers.add(watcher);
    this.unsubscribe ??= Promise.all([
      this.bus.onChange((id) => this.noticed(id)),
      this.bus.onWorkerChange((id) => this.workerChanged(id)),
    ]).then((subscriptions) => async () => {
      await Promise.all(subscriptions.map((unsubscribe) => unsubscribe()));
    });
    try {
      await this.unsubscribe;
    } catch (error) {
      this.unsubscribe = null;
      this.watchers.delete(watcher);
      throw error;
    }
  }

  private async unwatch(watcher: Watcher): Promise<void> {
    this.watchers.delete(watcher);
    if (this.watchers.size > 0 || !this.unsubscribe) return;
    const subscription = this.unsubscribe;
    this.unsubscribe = null;
    await (await subscription)().catch(() => undefined);
  }

  private noticed(responseId: string): void {
    if (this.watchers.size === 0) return;
    this.pending.add(responseId);
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush().catch((error: unknown) =>
        this.logger.warn(`telling consoles of changes failed: ${String(error)}`),
      );
    }, COALESCE_MS);
  }

  private workerChanged(workerId: string): void {
    for (const watcher of this.watchers) {
      if (watcher.principal.admin) watcher.sendWorkers([workerId]);
    }
  }

  private async flush(): Promise<void> {
    const ids = [...this.pending];
    this.pending = new Set();
    const rows = await this.list.ownership(ids);
    for (const watcher of this.watchers) {
      const { admin, keyId } = watcher.principal;
      const visible = admin ? rows : rows.filter((row) => row.owner_id === keyId);
      if (visible.length > 0) watcher.send(visible);
    }
  }

  onModuleDestroy(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const controller of this.streams) controller.abort();
  }
}
