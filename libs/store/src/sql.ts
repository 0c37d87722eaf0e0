import type { OnModuleDestroy } from '@nestjs/common';
import { Batcher } from '@ratchet/core';
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
 * A statement that takes a batch of operations, each numbered by `o`, and returns one row per
 * operation: a process under load sends the operations of many responses as one statement
 * (one round trip, one commit). It comes in two forms that differ only in how the CTE `op`
 * is made. `one` takes an operation alone as one parameter per column, so nothing is decoded
 * twice and it is planned as the single row it is. `many` takes `$1` as a JSON array read
 * with `ratchet_each`, which the planner takes for one row too (see its migration), so every
 * lookup goes through an index whatever the batch's size. `columns` lists an operation's
 * columns as `name type` pairs, comma-separated.
 */
export interface BatchStatement {
  one: Statement;
  many: Statement;
  /** The columns of an operation, in the order of `one`'s parameters. */
  columns: ReadonlyArray<{ name: string; json: boolean }>;
}

export function batchStatement(
  name: string,
  columns: string,
  text: (ops: string) => string,
): BatchStatement {
  const parsed = columns.split(',').map((column) => {
    const [columnName, type] = column.trim().split(/\s+/);
    return { name: columnName, type };
  });
  const params = parsed.map((column, i) => `$${i + 1}::${column.type} AS ${column.name}`);
  return {
    one: statement(name, text(`op AS (SELECT 0 AS o, ${params.join(', ')})`)),
    many: statement(
      `${name}-batch`,
      text(
        `op AS (SELECT op.* FROM ratchet_each($1::json) e, json_to_record(e) AS op(o int, ${columns}))`,
      ),
    ),
    columns: parsed.map((column) => ({
      name: column.name,
      json: column.type === 'json' || column.type === 'jsonb',
    })),
  };
}

/** The parameters of a batch statement's `one` form for one operation. */
export function oneValues(sql: BatchStatement, op: Record<string, unknown>): unknown[] {
  return sql.columns.map(({ name, json }) => (json ? jsonParam(op[name]) : (op[name] ?? null)));
}

/**
 * Batches of one statement that may run at once per process. One: what arrives while it runs
 * waits for it and goes in the next, which is then the larger. With two, the second batch
 * went out with whatever had arrived since the first: bursts of 2,000 fan-out responses ran
 * twice the statements (0.14 to 0.17 a step against 0.07 to 0.09), Postgres spent 2.2 ms of
 * CPU per response against 1.4 to 1.6, and ratchet ran 14% fewer steps a second
 * (docs/cpu.md, "One batch in flight"). A lone operation still goes out at once. No
 * transaction awaits a batch, so a batch that waits on a row lock only delays the ones behind
 * it.
 */
const BATCHES_IN_FLIGHT = 1;
const MAX_BATCH = 64;

/**
 * How long a pool keeps a connection nobody uses. node-postgres's default, 10 s, closed the
 * connections at any longer pause, and the next burst opened them again: a backend forked and
 * every named statement parsed and planned anew on each. A burst of 2,000 fan-out responses
 * 12 s after the one before took a median of 20% longer than it; with connections kept, 10%
 * (docs/performance.md, "After a pause"). The pool's size still caps what stays open.
 */
export const POOL_IDLE_MS = 60_000;

/**
 * A node-postgres pool for ratchet's own connections. Every query ratchet makes is short, so
 * Postgres's JIT compiler only ever costs: with it on, a recovery sweep whose estimated cost
 * crossed `jit_above_cost` spent about 170 ms compiling each time it ran. It is turned off for
 * every connection as it opens, before the pool hands it out; by a SET, since connection
 * poolers such as PgBouncer refuse settings sent as a startup option.
 */
export function createPool(connectionString: string, max: number): Pool {
  const pool = new Pool({
    connectionString,
    max,
    idleTimeoutMillis: POOL_IDLE_MS,
    // Idle connections alone do not keep a process alive (a test's, a script's): the servers
    // and queues that a process runs do, and its shutdown ends the pool.
    allowExitOnIdle: true,
    // pg-pool waits for the promise before handing the client out; @types/pg says void.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises
    onConnect: async (client) => {
      await client.query('SET jit = off');
    },
  });
  // An idle client's connection dropping (a Postgres restart) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/**
 * node-postgres for every query ratchet makes: one pool per process, one round trip per call,
 * prepared statements, no ORM in between. Prisma owns the schema and its migrations (prisma/),
 * not the queries: its client's query compiler cost the API about 16 MB resident for the
 * API-key queries alone (docs/memory.md). JSON parameters are passed as text
 * (`JSON.stringify`), since node-postgres turns JS arrays into Postgres arrays.
 */
export class Sql implements OnModuleDestroy {
  readonly pool: Pool;

  constructor(connectionString: string, max = 20) {
    this.pool = createPool(connectionString, max);
  }

  async query<T extends QueryResultRow>(sql: Statement, values: unknown[] = []): Promise<T[]> {
    const result = await this.pool.query<T>({ name: sql.name, text: sql.text, values });
    return result.rows;
  }

  /**
   * Runs a batch statement's operations, as many at a time as arrive together (see Batcher);
   * operations with the same key never share a batch.
   */
  batcher<Op extends object, Row extends QueryResultRow>(
    sql: BatchStatement,
    keyOf: (op: Op) => string,
  ): Batcher<Op, Row> {
    return new Batcher<Op, Row>(
      async (ops) => {
        if (ops.length === 1) {
          const values = oneValues(sql, ops[0] as Record<string, unknown>);
          const [row] = await this.query<Row>(sql.one, values);
          return [row];
        }
        const rows = await this.query<Row & { o: number }>(sql.many, [
          JSON.stringify(ops.map((op, o) => ({ ...op, o }))),
        ]);
        const byOp: Row[] = [];
        for (const row of rows) byOp[row.o] = row;
        return ops.map((_, o) => byOp[o]);
      },
      { keyOf, maxInFlight: BATCHES_IN_FLIGHT, maxBatch: MAX_BATCH },
    );
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
