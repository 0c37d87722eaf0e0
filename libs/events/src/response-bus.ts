import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { createRedis } from '@ratchet/queue';
import type { Redis } from 'ioredis';

/** A notice that something happened to a response; readers then consult Postgres. */
export interface ResponseNotice {
  type: 'terminal' | 'events';
  responseId: string;
}

type Listener = (notice: ResponseNotice) => void;

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
  private subscriber: Redis | null = null;
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(config: AppConfig) {
    this.prefix = `${config.env.RATCHET_REDIS_PREFIX}:response:`;
    this.redisUrl = config.env.REDIS_URL;
  }

  async publish(notice: ResponseNotice): Promise<void> {
    this.publisher ??= createRedis(this.redisUrl, 'ratchet-bus-pub');
    await this.publisher.publish(this.prefix + notice.responseId, JSON.stringify(notice));
  }

  /** Listens for notices about one response; resolves once the subscription is active. */
  async subscribe(responseId: string, listener: Listener): Promise<() => Promise<void>> {
    const subscriber = this.ensureSubscriber();
    const channel = this.prefix + responseId;
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await subscriber.subscribe(channel);
    }
    set.add(listener);
    return async () => {
      const current = this.listeners.get(channel);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) {
        this.listeners.delete(channel);
        await subscriber.unsubscribe(channel);
      }
    };
  }

  private ensureSubscriber(): Redis {
    if (this.subscriber) return this.subscriber;
    const subscriber = createRedis(this.redisUrl, 'ratchet-bus-sub');
    subscriber.on('message', (channel: string, message: string) => {
      const set = this.listeners.get(channel);
      if (!set) return;
      let notice: ResponseNotice;
      try {
        notice = JSON.parse(message) as ResponseNotice;
      } catch {
        this.logger.warn(`ignoring malformed notice on ${channel}`);
        return;
      }
      for (const listener of set) listener(notice);
    });
    this.subscriber = subscriber;
    return subscriber;
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([this.publisher?.quit(), this.subscriber?.quit()]);
  }
}
