import { Redis } from 'ioredis';

/**
 * A Redis connection. `maxRetriesPerRequest: null` is what BullMQ requires for blocking
 * connections, and lets every client ride out a Redis restart instead of failing commands.
 * With `pipelined`, the commands issued in one turn of the event loop go to Redis in one
 * write (ioredis's auto-pipelining), in the order they were issued: for a connection that
 * sends many small commands at once, such as the notices of a batch of responses that ended
 * together. Not for a subscriber, nor for BullMQ's blocking connections.
 */
export function createRedis(url: string, name: string, { pipelined = false } = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName: name,
    lazyConnect: false,
    enableAutoPipelining: pipelined,
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
