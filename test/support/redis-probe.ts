import { Redis } from 'ioredis';

/**
 * Runs `work` on a Redis connection that fails fast instead of retrying: for probing a
 * server that may be down, and for one-off commands against a test's own server.
 */
export async function withShortRedis<T>(
  url: string,
  work: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    client.disconnect();
  }
}
