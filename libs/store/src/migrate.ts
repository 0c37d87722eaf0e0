import { createHash, randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { Client, DatabaseError, escapeIdentifier } from 'pg';

// The Prisma CLI cannot run `migrate deploy` here (it needs a native engine), so this runner
// applies prisma/migrations itself while keeping Prisma's bookkeeping byte-for-byte: a machine
// that does have the engine sees every migration applied by this runner as its own.

/** Prisma Migrate's advisory lock key; sharing it keeps this runner and `prisma migrate` apart. */
const MIGRATION_LOCK_KEY = 72707369;

/** Prisma's own DDL for its bookkeeping table (Postgres flavour). */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** Postgres error codes a losing CREATE DATABASE racer gets when the winner commits first. */
const DUPLICATE_DATABASE_CODES = new Set(['42P04', '23505']);

export interface MigrateOptions {
  /** Folder holding `<name>/migration.sql` folders; defaults to the repository's prisma/migrations. */
  migrationsDir?: string;
  log?: (line: string) => void;
}

export interface MigrateResult {
  /** Names of the migrations this run applied, in the order it applied them. */
  applied: string[];
}

interface LocalMigration {
  name: string;
  sql: string;
  checksum: string;
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/**
 * Applies every migration folder not yet recorded in `_prisma_migrations`, in lexical order,
 * each in its own transaction. Safe to run concurrently: callers queue on Prisma's advisory lock.
 */
export async function migrate(
  connectionString: string,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const log = options.log ?? (() => undefined);
  const local = await readMigrations(options.migrationsDir ?? findMigrationsDir());
  const client = new Client({ connectionString });
  await client.connect();
  try {
    return await withMigrationLock(client, log, async () => {
      await client.query(CREATE_MIGRATIONS_TABLE);
      const rows = await readMigrationRows(client);
      for (const name of unknownMigrationNames(local, rows)) {
        log(`Warning: ${name} is recorded in _prisma_migrations but has no migration folder`);
      }
      const applied: string[] = [];
      for (const migration of pendingMigrations(local, rows)) {
        const startedAt = Date.now();
        await applyMigration(client, migration);
        applied.push(migration.name);
        log(`Applied ${migration.name} (${Date.now() - startedAt} ms)`);
      }
      return { applied };
    });
  } finally {
    await client.end();
  }
}

/** Creates the connection string's database when it does not exist yet. */
export async function ensureDatabase(connectionString: string): Promise<void> {
  const target = new URL(connectionString);
  const database = decodeURIComponent(target.pathname.slice(1));
  if (database === '') {
    throw new Error('The database URL names no database, so there is nothing to create');
  }
  // The target cannot be opened before it exists; the server's maintenance database can.
  const maintenance = new URL(connectionString);
  maintenance.pathname = '/postgres';
  const client = new Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.rowCount !== 0) return;
    await client.query(`CREATE DATABASE ${escapeIdentifier(database)}`).catch((error: unknown) => {
      // Another process created it between our check and our CREATE: the goal is met.
      if (!(error instanceof DatabaseError && DUPLICATE_DATABASE_CODES.has(error.code ?? ''))) {
        throw error;
      }
    });
  } finally {
    await client.end();
  }
}

/**
 * Walks up from `startDir` to the first folder holding prisma/migrations, so the default works
 * both from libs/store/src (ts-node, jest) and from dist/libs/store/src (compiled).
 */
export function findMigrationsDir(startDir: string = __dirname): string {
  for (let dir = path.resolve(startDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'prisma', 'migrations');
    if (statSync(candidate, { throwIfNoEntry: false })?.isDirectory()) return candidate;
    if (path.dirname(dir) === dir) {
      throw new Error(`No prisma/migrations folder above ${startDir}; pass migrationsDir`);
    }
  }
}

async function readMigrations(migrationsDir: string): Promise<LocalMigration[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  // Prisma orders migrations by folder name; plain sort() compares code units, i.e. lexically.
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(names.map((name) => readMigration(migrationsDir, name)));
}

async function readMigration(migrationsDir: string, name: string): Promise<LocalMigration> {
  const file = path.join(migrationsDir, name, 'migration.sql');
  const bytes = await readFile(file).catch((error: unknown) => {
    throw new Error(`Migration ${name} has no readable migration.sql (${file})`, { cause: error });
  });
  // Prisma checksums the raw file bytes; decoding first would change them.
  const checksum = createHash('sha256').update(bytes).digest('hex');
  return { name, sql: bytes.toString('utf8'), checksum };
}

async function withMigrationLock<T>(
  client: Client,
  log: (line: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  const attempt = await client.query<{ locked: boolean }>(
    'SELECT pg_try_advisory_lock($1) AS locked',
    [MIGRATION_LOCK_KEY],
  );
  if (!attempt.rows[0]?.locked) {
    log('Waiting for another migration run to release the migration lock');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  }
  try {
    return await work();
  } finally {
    // If the connection is broken the unlock fails, but closing the session releases the lock
    // anyway, and the error that broke it is the one worth reporting.
    await client
      .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
      .catch(() => undefined);
  }
}

async function readMigrationRows(client: Client): Promise<MigrationRow[]> {
  const result = await client.query<MigrationRow>(
    `SELECT migration_name, checksum, finished_at, rolled_back_at
       FROM "_prisma_migrations" ORDER BY started_at`,
  );
  return result.rows;
}

/** Works out what to apply, refusing (as Prisma does) when the history cannot be trusted. */
function pendingMigrations(local: LocalMigration[], rows: MigrationRow[]): LocalMigration[] {
  const failed = rows.find((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed) {
    throw new Error(
      `Migration ${failed.migration_name} failed in an earlier run (its _prisma_migrations row ` +
        'has neither finished_at nor rolled_back_at). Repair the database, then record the ' +
        `outcome with \`prisma migrate resolve --rolled-back ${failed.migration_name}\` ` +
        'or `--applied` before migrating again.',
    );
  }
  const applied = new Map(
    rows.filter((row) => row.rolled_back_at === null).map((row) => [row.migration_name, row]),
  );
  for (const migration of local) {
    const row = applied.get(migration.name);
    if (row && row.checksum !== migration.checksum) {
      throw new Error(
        `Migration ${migration.name} was modified after it was applied: the database recorded ` +
          `checksum ${row.checksum}, migration.sql now has ${migration.checksum}. ` +
          'Restore the original file and put the change in a new migration.',
      );
    }
  }
  return local.filter((migration) => !applied.has(migration.name));
}

function unknownMigrationNames(local: LocalMigration[], rows: MigrationRow[]): string[] {
  const localNames = new Set(local.map((migration) => migration.name));
  return rows
    .filter((row) => row.rolled_back_at === null && !localNames.has(row.migration_name))
    .map((row) => row.migration_name);
}

/**
 * Runs one migration and its bookkeeping in a single transaction, so a failure leaves neither
 * half-applied SQL nor a failed row behind and the next run simply retries it.
 */
async function applyMigration(client: Client, migration: LocalMigration): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    // clock_timestamp(), not now(): now() is frozen at BEGIN, which would make every
    // migration look instantaneous in the bookkeeping.
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at)
       VALUES ($1, $2, $3, clock_timestamp())`,
      [id, migration.checksum, migration.name],
    );
    // No parameters: pg then uses the simple query protocol, which accepts many statements.
    await client.query(migration.sql);
    await client.query(
      `UPDATE "_prisma_migrations"
          SET finished_at = clock_timestamp(), applied_steps_count = 1
        WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  } catch (error) {
    // A broken connection cannot roll back, but the server discards its open transaction then.
    await client.query('ROLLBACK').catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Migration ${migration.name} failed and was rolled back: ${reason}`, {
      cause: error,
    });
  }
}
