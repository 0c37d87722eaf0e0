import type { OnModuleDestroy } from '@nestjs/common';
import { Pool, type PoolClient, type QueryResultRow } from 'pg';
import { isDatabaseUnavailable } from './unavailable';

/** A JSON parameter: the value as JSON text, or SQL NULL for null and undefined. */
export const jsonParam = (value: unknown): string | null =>
  value === undefined || value === null ? null : JSON.stringify(value);

/** A SQL statement with a name, so Postgres parses and plans it once per connection. */
export interface Statement {
  name: string;
  text: string;
}

export function statement(name: string, text: string): Statement {
  return { name, text };
}

/**
 * node-postgres for the engine's hot path: one round trip per call, prepared statements,
 * no ORM in between. Prisma serves everything else. JSON parameters are passed as text
 * (`JSON.stringify`), since node-postgres turns JS arrays into Postgres arrays.
 */
export class Sql implements OnModuleDestroy {
  readonly pool: Pool;

  constructor(connectionString: string, max = 20) {
    this.pool = new Pool({ connectionString, max });
    // An idle client's connection dropping (a Postgres restart) must not crash the process.
    this.pool.on('error', () => undefined);
  }

  async query<T extends QueryResultRow>(sql: Statement, values: unknown[] = []): Promise<T[]> {
    const result = await this.pool.query<T>({ name: sql.name, text: sql.text, values });
    return result.rows;
  }

  /** Runs `work` in a transaction on one connection; rolls back when it throws. */
  async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A checked-out client has no error listener of the pool's: a connection that drops
    // between queries (a Postgres restart) would otherwise crash the process. The error
    // also fails the transaction's next query, and the client is discarded, not reused.
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken ??= error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken ??= error instanceof Error && isDatabaseUnavailable(error) ? error : undefined;
      if (!broken) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool.end();
  }
}
