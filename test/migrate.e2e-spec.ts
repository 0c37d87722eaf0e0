import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureDatabase, findMigrationsDir, migrate } from '../libs/store/src/migrate';
import {
  createTestDatabase,
  databaseUrl,
  dropDatabase,
  serverUrl,
  type TestDatabase,
  withClient,
} from './support/database';

const REPO_ROOT = path.resolve(__dirname, '..');
const REAL_MIGRATIONS_DIR = path.join(REPO_ROOT, 'prisma', 'migrations');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface MigrationRow {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

describe('migrate', () => {
  const databases: TestDatabase[] = [];
  const tempDirs: string[] = [];

  afterEach(async () => {
    await Promise.all(databases.splice(0).map((database) => database.drop()));
    await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function emptyDatabase(): Promise<string> {
    const database = await createTestDatabase('migrate', { empty: true });
    databases.push(database);
    return database.url;
  }

  /** A throwaway migrations folder: { folderName: sql }. */
  async function migrationsDir(migrations: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), 'ratchet-migrations-'));
    tempDirs.push(dir);
    await writeFile(path.join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n');
    await addMigrations(dir, migrations);
    return dir;
  }

  async function addMigrations(dir: string, migrations: Record<string, string>): Promise<void> {
    for (const [name, sql] of Object.entries(migrations)) {
      await mkdir(path.join(dir, name));
      await writeFile(path.join(dir, name, 'migration.sql'), sql);
    }
  }

  async function migrationRows(url: string): Promise<MigrationRow[]> {
    return withClient(url, async (client) => {
      const result = await client.query<MigrationRow>(
        'SELECT * FROM "_prisma_migrations" ORDER BY migration_name',
      );
      return result.rows;
    });
  }

  async function tableExists(url: string, table: string): Promise<boolean> {
    return withClient(url, async (client) => {
      const result = await client.query<{ exists: boolean }>(
        'SELECT to_regclass($1) IS NOT NULL AS exists',
        [table],
      );
      return result.rows[0]?.exists ?? false;
    });
  }

  it('applies the real migrations to a fresh database and records them as Prisma does', async () => {
    const url = await emptyDatabase();
    const names = (await readdir(REAL_MIGRATIONS_DIR, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    const log: string[] = [];

    const { applied } = await migrate(url, { log: (line) => log.push(line) });

    expect(names.length).toBeGreaterThan(0);
    expect(applied).toEqual(names);
    expect(log).toEqual(names.map((name) => expect.stringContaining(name) as string));
    const rows = await migrationRows(url);
    const expectedRows = await Promise.all(
      names.map(async (name) => ({
        id: expect.stringMatching(UUID) as string,
        checksum: sha256(await readFile(path.join(REAL_MIGRATIONS_DIR, name, 'migration.sql'))),
        finished_at: expect.any(Date) as Date,
        migration_name: name,
        logs: null,
        rolled_back_at: null,
        started_at: expect.any(Date) as Date,
        applied_steps_count: 1,
      })),
    );
    expect(rows).toEqual(expectedRows);
    for (const row of rows) {
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    }
    expect(await tableExists(url, 'api_keys')).toBe(true);
  });

  it("creates _prisma_migrations with Prisma's exact layout", async () => {
    const url = await emptyDatabase();
    await migrate(url, { migrationsDir: await migrationsDir({}) });

    const columns = await withClient(url, async (client) => {
      const result = await client.query<Record<string, unknown>>(
        `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
           FROM information_schema.columns
          WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
      );
      return result.rows;
    });
    const primaryKey = await withClient(url, async (client) => {
      const result = await client.query<{ definition: string }>(
        `SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint
          WHERE conrelid = '_prisma_migrations'::regclass AND contype = 'p'`,
      );
      return result.rows.map((row) => row.definition);
    });

    const column = (name: string, type: string, length: number | null, nullable: boolean) => ({
      column_name: name,
      data_type: type,
      character_maximum_length: length,
      is_nullable: nullable ? 'YES' : 'NO',
      column_default: null,
    });
    expect(columns).toEqual([
      column('id', 'character varying', 36, false),
      column('checksum', 'character varying', 64, false),
      column('finished_at', 'timestamp with time zone', null, true),
      column('migration_name', 'character varying', 255, false),
      column('logs', 'text', null, true),
      column('rolled_back_at', 'timestamp with time zone', null, true),
      { ...column('started_at', 'timestamp with time zone', null, false), column_default: 'now()' },
      { ...column('applied_steps_count', 'integer', null, false), column_default: '0' },
    ]);
    expect(primaryKey).toEqual(['PRIMARY KEY (id)']);
  });

  it('applies nothing on a second run and leaves the bookkeeping untouched', async () => {
    const url = await emptyDatabase();
    const dir = await migrationsDir({
      '20260101000000_widgets': 'CREATE TABLE widgets (id integer PRIMARY KEY);',
    });
    await migrate(url, { migrationsDir: dir });
    const before = await migrationRows(url);

    const second = await migrate(url, { migrationsDir: dir });

    expect(second.applied).toEqual([]);
    expect(await migrationRows(url)).toEqual(before);
  });

  it('applies folders in lexical order and picks up new ones on a later run', async () => {
    const url = await emptyDatabase();
    // Written out of order so the result cannot come from creation order.
    const dir = await migrationsDir({
      '20260102000000_add_colour': 'ALTER TABLE widgets ADD COLUMN colour text;',
      '20260101000000_widgets': 'CREATE TABLE widgets (id integer PRIMARY KEY);',
    });

    const first = await migrate(url, { migrationsDir: dir });
    await addMigrations(dir, {
      '20260103000000_add_size': 'ALTER TABLE widgets ADD COLUMN size integer;',
    });
    const second = await migrate(url, { migrationsDir: dir });

    expect(first.applied).toEqual(['20260101000000_widgets', '20260102000000_add_colour']);
    expect(second.applied).toEqual(['20260103000000_add_size']);
    expect((await migrationRows(url)).map((row) => row.migration_name)).toEqual([
      '20260101000000_widgets',
      '20260102000000_add_colour',
      '20260103000000_add_size',
    ]);
  });

  it('applies each migration exactly once when several runs race', async () => {
    const url = await emptyDatabase();
    const names = ['20260101000000_a', '20260102000000_b', '20260103000000_c'];
    // The sleep holds the lock long enough for the other runs to queue behind it.
    const dir = await migrationsDir(
      Object.fromEntries(
        names.map((name, i) => [name, `SELECT pg_sleep(0.1); CREATE TABLE t${i} (id integer);`]),
      ),
    );

    const runs = await Promise.all([1, 2, 3].map(() => migrate(url, { migrationsDir: dir })));

    expect(runs.flatMap((run) => run.applied).sort()).toEqual(names);
    expect((await migrationRows(url)).map((row) => row.migration_name)).toEqual(names);
  });

  it('refuses to run when an applied migration.sql was edited', async () => {
    const url = await emptyDatabase();
    const dir = await migrationsDir({
      '20260101000000_widgets': 'CREATE TABLE widgets (id integer PRIMARY KEY);',
    });
    await migrate(url, { migrationsDir: dir });
    await appendFile(path.join(dir, '20260101000000_widgets', 'migration.sql'), '\n-- edited\n');
    await addMigrations(dir, { '20260102000000_gadgets': 'CREATE TABLE gadgets (id integer);' });

    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      /Migration 20260101000000_widgets was modified after it was applied/,
    );
    expect(await tableExists(url, 'gadgets')).toBe(false);
  });

  it('refuses to run past a failed migration until it is marked rolled back', async () => {
    const url = await emptyDatabase();
    const dir = await migrationsDir({
      '20260101000000_widgets': 'CREATE TABLE widgets (id integer PRIMARY KEY);',
    });
    await migrate(url, { migrationsDir: dir });
    // What `prisma migrate deploy` leaves behind when a migration fails half-way.
    await withClient(url, (client) =>
      client.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs)
         VALUES ($1, $2, '20260102000000_gadgets', 'syntax error')`,
        [randomUUID(), sha256(Buffer.from('CREATE TABLE gadgets (id integer);'))],
      ),
    );
    await addMigrations(dir, { '20260102000000_gadgets': 'CREATE TABLE gadgets (id integer);' });

    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      /Migration 20260102000000_gadgets failed in an earlier run/,
    );
    expect(await tableExists(url, 'gadgets')).toBe(false);

    await withClient(url, (client) =>
      client.query(`UPDATE "_prisma_migrations" SET rolled_back_at = now()
                     WHERE migration_name = '20260102000000_gadgets'`),
    );
    const retry = await migrate(url, { migrationsDir: dir });

    expect(retry.applied).toEqual(['20260102000000_gadgets']);
    expect(await tableExists(url, 'gadgets')).toBe(true);
  });

  it('rolls a failing migration back completely and retries it once fixed', async () => {
    const url = await emptyDatabase();
    const dir = await migrationsDir({
      '20260101000000_widgets': 'CREATE TABLE widgets (id integer PRIMARY KEY);',
      '20260102000000_broken': 'CREATE TABLE gadgets (id integer); SELECT 1 / 0;',
    });

    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      'Migration 20260102000000_broken failed and was rolled back: division by zero',
    );
    expect((await migrationRows(url)).map((row) => row.migration_name)).toEqual([
      '20260101000000_widgets',
    ]);
    expect(await tableExists(url, 'gadgets')).toBe(false);
    expect(await advisoryLockCount(url)).toBe(0);

    await writeFile(
      path.join(dir, '20260102000000_broken', 'migration.sql'),
      'CREATE TABLE gadgets (id integer);',
    );
    const retry = await migrate(url, { migrationsDir: dir });

    expect(retry.applied).toEqual(['20260102000000_broken']);
    expect(await tableExists(url, 'gadgets')).toBe(true);
  });

  it('reports a migration folder without migration.sql', async () => {
    const url = await emptyDatabase();
    const dir = await migrationsDir({});
    await mkdir(path.join(dir, '20260101000000_empty'));

    await expect(migrate(url, { migrationsDir: dir })).rejects.toThrow(
      /Migration 20260101000000_empty has no readable migration.sql/,
    );
  });

  it('finds prisma/migrations from the source tree and from the compiled tree', () => {
    expect(findMigrationsDir(path.join(REPO_ROOT, 'libs', 'store', 'src'))).toBe(
      REAL_MIGRATIONS_DIR,
    );
    expect(findMigrationsDir(path.join(REPO_ROOT, 'dist', 'libs', 'store', 'src'))).toBe(
      REAL_MIGRATIONS_DIR,
    );
    expect(() => findMigrationsDir(tmpdir())).toThrow(/No prisma\/migrations folder above/);
  });
});

describe('ensureDatabase', () => {
  const name = `ratchet_test_ensure_${randomBytes(4).toString('hex')}`;

  afterAll(() => dropDatabase(name));

  it('creates a missing database once, even when callers race', async () => {
    const url = databaseUrl(name);

    await Promise.all([1, 2, 3, 4].map(() => ensureDatabase(url)));
    await ensureDatabase(url);

    const found = await withClient(serverUrl(), async (client) => {
      const result = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      return result.rowCount;
    });
    expect(found).toBe(1);
  });
});

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function advisoryLockCount(url: string): Promise<number> {
  return withClient(url, async (client) => {
    const result = await client.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM pg_locks
        WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database
                                                    WHERE datname = current_database())`,
    );
    return result.rows[0]?.count ?? 0;
  });
}
