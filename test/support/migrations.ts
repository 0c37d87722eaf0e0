import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
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
    close: async () => {
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
