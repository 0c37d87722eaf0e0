import type { LoggedEvent } from '@ratchet/store';
import { trackSseClient } from '@ratchet/telemetry';
import type { Response } from 'express';
import type { EventSink } from './event-sink';

/** A response's events as server-sent events on one HTTP response, ended by `[DONE]`. */
export class SseSink implements EventSink {
  private gone = false;

  constructor(private readonly res: Response) {
    trackSseClient(res);
    res.once('close', () => {
      this.gone = true;
    });
  }

  onGone(listener: () => void): () => void {
    if (this.gone || this.res.destroyed) {
      listener();
      return () => undefined;
    }
    this.res.once('close', listener);
    return () => this.res.off('close', listener);
  }

  open(): void {
    this.res.status(200);
    this.res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('cache-control', 'no-cache');
    this.res.setHeader('connection', 'keep-alive');
    this.res.setHeader('x-accel-buffering', 'no');
    this.res.flushHeaders();
  }

  send(event: LoggedEvent): boolean {
    return this.res.write(`id: ${event.sequence}\nevent: ${event.type}\ndata: ${event.data}\n\n`);
  }

  drained(): Promise<void> {
    if (this.gone || !this.res.writableNeedDrain) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  keepalive(): void {
    if (!this.gone && !this.res.writableEnded) this.res.write(': keepalive\n\n');
  }

  finish(): void {
    if (!this.gone) this.res.end('data: [DONE]\n\n');
  }

  close(): void {
    if (!this.res.writableEnded) this.res.end();
  }
}
