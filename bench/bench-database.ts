import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier } from 'pg';
import { migrate } from '../libs/store/src/migrate';

// A throwaway database per run, so figures never depend on what earlier runs left behind and
// the bench never touches anyone else's data.

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates `ratchet_bench_<random>` on the server of `serverUrl` and applies the migrations. */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `ratchet_bench_${randomBytes(4).toString('hex')}`;
  await onServer(serverUrl, (client) => client.query(`CREATE DATABASE ${escapeIdentifier(name)}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const database: BenchDatabase = {
    name,
    url: url.toString(),
    // FORCE ends connections a killed process may have left behind, so the drop cannot block.
    drop: () =>
      onServer(serverUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`),
      ),
  };
  try {
    await migrate(database.url);
  } catch (error) {
    await database.drop();
    throw error;
  }
  return database;
}

async function onServer(
  serverUrl: string,
  work: (client: Client) => Promise<unknown>,
): Promise<void> {
  const client = new Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}

/** The server's version, as Postgres reports it. */
export async function postgresVersion(url: string): Promise<string> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return rows[0]?.server_version ?? 'unknown';
  } finally {
    await client.end();
  }
}
