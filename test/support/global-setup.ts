import { escapeIdentifier } from 'pg';
import { migrate } from '../../libs/store/src/migrate';
import { TEMPLATE_DATABASE, databaseUrl, dropDatabase, serverUrl, withClient } from './database';

// Rebuilt on every run rather than reused: a template left by an older checkout may hold a
// different schema, and migrating one small database takes well under a second.

export default async function globalSetup(): Promise<void> {
  try {
    await dropDatabase(TEMPLATE_DATABASE);
    await withClient(serverUrl(), (client) =>
      client.query(`CREATE DATABASE ${escapeIdentifier(TEMPLATE_DATABASE)}`),
    );
    await migrate(databaseUrl(TEMPLATE_DATABASE));
  } catch (error) {
    // Jest shows only the message of a failed global setup, so the cause goes into it.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `e2e setup could not build ${TEMPLATE_DATABASE} on ${describeServer()}: ${reason} ` +
        '(is Postgres running? TEST_DATABASE_URL selects another server)',
      { cause: error },
    );
  }
}

/** host:port only: the URL may carry a password. */
function describeServer(): string {
  const url = new URL(serverUrl());
  return `${url.hostname || 'localhost'}:${url.port || '5432'}`;
}
