import { Injectable } from '@nestjs/common';
import { newSealingKey } from './sealer';
import { Sql, statement } from './sql';

/** The id of the deployment's one key; others may come with key rotation. */
export const DEPLOYMENT_KEY_ID = 'deployment';

const SQL = {
  find: statement('find-sealing-key', `SELECT key FROM sealing_keys WHERE id = $1`),
  // Processes starting together may all find no key: the first insert wins, the others do
  // nothing, and everyone then reads the winner's key.
  create: statement(
    'create-sealing-key',
    `INSERT INTO sealing_keys (id, key) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
  ),
};

/**
 * The sealing key kept in Postgres, for deployments that set no RATCHET_SECRET_KEY: made at
 * random on first use, then the same for every process and every restart.
 */
@Injectable()
export class SealingKeysRepository {
  constructor(private readonly sql: Sql) {}

  async deploymentKey(): Promise<Buffer> {
    const existing = await this.find();
    if (existing) return existing;
    await this.sql.query(SQL.create, [DEPLOYMENT_KEY_ID, newSealingKey()]);
    // A statement of its own: one that began before a rival's insert committed would not see it.
    const key = await this.find();
    if (!key) throw new Error('The sealing key could not be stored.');
    return key;
  }

  private async find(): Promise<Buffer | null> {
    const [row] = await this.sql.query<{ key: Buffer }>(SQL.find, [DEPLOYMENT_KEY_ID]);
    return row?.key ?? null;
  }
}
