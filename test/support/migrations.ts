import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../../libs/store/src/migrate';
import { createTestDatabase, type TestDatabase } from './database';

// Tests of a migration that converts stored rows: a database migrated up to just before it,
// for the test to fill with rows of the old shape, then the migration applied.

const REAL_MIGRATIONS = path.resolve(__dirname, '..', '..', 'prisma', 'migrations');

export interface BeforeMigration {
  database: TestDatabase;
  /** Applies the migration alone; returns the names applied. */
  apply(): Promise<string[]>;
  /** Applies it and every migration after it; returns the names applied. */
  applyAll(): Promise<string[]>;
  /**
   * Runs `fill` on a connection of its own, for rows of the old shape, once the API key they
   * belong to (`key_1`) is there.
   */
  seed(fill: (db: Client) => Promise<void>): Promise<void>;
  /** Drops the database and the copy of the migrations. */
  close(): Promise<void>;
}

/** A new database (`name` in its name) with every migration before `migration` applied. */
export async function migratedUpTo(name: string, migration: string): Promise<BeforeMigration> {
  const database = await createTestDatabase(name, { empty: true });
  const dir = await mkdtemp(path.join(tmpdir(), 'ratchet-migrations-'));
  const copy = (entry: string) =>
    cp(path.join(REAL_MIGRATIONS, entry), path.join(dir, entry), { recursive: true });
  await writeFile(path.join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n');
  for (const entry of (await readdir(REAL_MIGRATIONS)).filter((entry) => entry < migration)) {
    await copy(entry);
  }
  await migrate(database.url, { migrationsDir: dir });
  return {
    database,
    apply: async () => {
      await copy(migration);
      return (await migrate(database.url, { migrationsDir: dir })).applied;
    },
    applyAll: async () => (await migrate(database.url, { migrationsDir: REAL_MIGRATIONS })).applied,
    seed: async (fill) => {
      const db = new Client({ connectionString: database.url });
      await db.connect();
      try {
        await db.query(
          `INSERT INTO api_keys (id, name, key_hash, prefix) VALUES ('key_1', 't', 'h', 'p')`,
        );
        await fill(db);
      } finally {
        await db.end();
      }
    },
    close: async () => {
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Inserts the top scope of response `responseId`, offering `tools`. */
export async function insertTopScope(
  db: Client,
  responseId: string,
  tools: Record<string, unknown> = { definitions: [] },
): Promise<void> {
  await db.query(
    `INSERT INTO scopes (id, response_id, depth, model, input, tools)
     VALUES ('scope_' || substr($1, 6), $1, 0, 'mock', '[]', $2)`,
    [responseId, JSON.stringify(tools)],
  );
}
