import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier } from 'pg';

// Each e2e test file works in a database of its own, cloned from a template that global-setup
// migrates once, so tests never truncate tables or depend on each other's data.

/**
 * The migrated template of this test run. Each run builds its own (global-setup names it in
 * RATCHET_TEST_TEMPLATE), so test runs of several checkouts can share one Postgres server.
 */
export function templateDatabase(): string {
  const name = process.env.RATCHET_TEST_TEMPLATE;
  if (!name) throw new Error('RATCHET_TEST_TEMPLATE is not set: e2e tests run under global-setup');
  return name;
}

/** A new template name for a test run. */
export function newTemplateName(): string {
  return `ratchet_test_template_${randomBytes(4).toString('hex')}`;
}

const DEFAULT_SERVER_URL = 'postgresql://postgres@127.0.0.1:5432/postgres';

/** Postgres truncates identifiers beyond 63 bytes; names are kept below it to stay distinct. */
const MAX_IDENTIFIER_LENGTH = 63;

export interface TestDatabase {
  name: string;
  url: string;
  /** Disconnects every session still using the database, then drops it. */
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** Start from an empty database (template0) instead of the migrated template. */
  empty?: boolean;
}

/** URL of the server's maintenance database, from TEST_DATABASE_URL when set. */
export function serverUrl(): string {
  return process.env.TEST_DATABASE_URL || DEFAULT_SERVER_URL;
}

/** URL of `database` on the test server. */
export function databaseUrl(database: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export async function withClient<T>(
  connectionString: string,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({ connectionString });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The rows of one statement, on a connection of its own. */
export async function queryRows<T extends object>(
  connectionString: string,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  return withClient(connectionString, async (client) => (await client.query<T>(sql, values)).rows);
}

/** Creates `ratchet_test_<name>_<random>`, migrated unless `empty` is set. */
export async function createTestDatabase(
  name: string,
  options: CreateTestDatabaseOptions = {},
): Promise<TestDatabase> {
  const database = uniqueDatabaseName(name);
  const template = options.empty ? 'template0' : templateDatabase();
  await withClient(serverUrl(), (client) =>
    client.query(
      `CREATE DATABASE ${escapeIdentifier(database)} TEMPLATE ${escapeIdentifier(template)}`,
    ),
  );
  return { name: database, url: databaseUrl(database), drop: () => dropDatabase(database) };
}

export async function dropDatabase(database: string): Promise<void> {
  // WITH (FORCE) terminates the remaining sessions and drops in one statement, so a pool that
  // reconnects in between cannot make the drop fail.
  await withClient(serverUrl(), (client) =>
    client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(database)} WITH (FORCE)`),
  );
}

function uniqueDatabaseName(name: string): string {
  const suffix = randomBytes(4).toString('hex');
  const prefix = 'ratchet_test_';
  const room = MAX_IDENTIFIER_LENGTH - prefix.length - suffix.length - 1;
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, room);
  return `${prefix}${slug}_${suffix}`;
}
