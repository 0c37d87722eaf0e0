import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import { postgresVersion } from './bench-database';

// What the figures were measured on: they mean little without it.

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  postgres: string;
  redis: string;
}

export async function describeMachine(databaseUrl: string, redisUrl: string): Promise<Machine> {
  return {
    cpu: cpuModel(),
    cores: availableParallelism(),
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: await postgresVersion(databaseUrl),
    redis: await redisVersion(redisUrl),
  };
}

function cpuModel(): string {
  try {
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
    return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function redisVersion(url: string): Promise<string> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    const info = await redis.info('server');
    return /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
  } finally {
    redis.disconnect();
  }
}

/**
 * Removes every key under the run's prefix, so repeated runs leave Redis as they found it: the
 * bench's own (`<prefix>:...`) and ratchet's queue keys, whose prefix is a Redis Cluster hash tag
 * (`{<prefix>}:...`, or `{<prefix>:<part>}:...` for a workload's own; queueKeyPrefix).
 */
export async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    for (const pattern of [`${prefix}:*`, `{${prefix}}*`, `{${prefix}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) deleted += await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
