import { ensureDatabase, migrate } from './migrate';

// `npm run db:migrate`: brings DATABASE_URL's database up to date with prisma/migrations.

async function main(): Promise<number> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.error(
      'DATABASE_URL is not set. Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ratchet',
    );
    return 1;
  }
  await ensureDatabase(databaseUrl);
  const { applied } = await migrate(databaseUrl, { log: (line) => console.log(line) });
  console.log(
    applied.length === 0
      ? 'No pending migrations; the database is up to date.'
      : `Applied ${applied.length} migration(s); the database is up to date.`,
  );
  return 0;
}

main().then(
  (exitCode) => {
    // exitCode rather than exit(): stdout may still be flushing to a pipe.
    process.exitCode = exitCode;
  },
  (error: unknown) => {
    console.error(`Migration failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
