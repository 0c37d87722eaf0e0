import { Redis } from 'ioredis';

/**
 * A Redis connection. `maxRetriesPerRequest: null` is what BullMQ requires for blocking
 * connections, and lets every client ride out a Redis restart instead of failing commands.
 */
export function createRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName: name,
    lazyConnect: false,
  });
  // ioredis reconnects by itself; without a listener it would print every failed attempt
  // as an unhandled error. /readyz reports whether Redis answers.
  redis.on('error', () => undefined);
  return redis;
}

/**
 * The prefix of the queue's keys: `RATCHET_REDIS_PREFIX` as a Redis Cluster hash tag
 * (`{ratchet}`), as BullMQ requires there, so that every key of the queue lands in one slot.
 * A prefix that has a hash tag already is kept as it is.
 */
export function queueKeyPrefix(prefix: string): string {
  return /\{[^{}]+\}/.test(prefix) ? prefix : `{${prefix}}`;
}
