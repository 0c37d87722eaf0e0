import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { newId } from '@ratchet/core';
import { Sql, statement } from './sql';

/** The caller a bearer key identifies. Admin keys see every tenant's responses. */
export interface Principal {
  keyId: string;
  admin: boolean;
}

/** Id of the row that stands for RATCHET_ADMIN_KEY; its hash follows the variable. */
export const BOOTSTRAP_ADMIN_KEY_ID = 'key_admin';

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A new secret: `rk-` and 43 base64url characters (256 random bits). */
export function generateKeySecret(): string {
  return `rk-${randomBytes(32).toString('base64url')}`;
}

/** How long a key check is remembered: a revoked key stops working within this time. */
export const KEY_CACHE_TTL_MS = 10_000;
const KEY_CACHE_SIZE = 10_000;

/** A key as listings show it: never its secret, nor the secret's hash. */
export interface ApiKeyRecord {
  id: string;
  name: string;
  prefix: string;
  admin: boolean;
  createdAt: Date;
  revokedAt: Date | null;
}

const SQL = {
  create: statement(
    'api-key-create',
    `INSERT INTO api_keys (id, name, key_hash, prefix, admin) VALUES ($1, $2, $3, $4, $5)`,
  ),
  find: statement(
    'api-key-find',
    `SELECT id, admin, revoked_at IS NOT NULL AS revoked FROM api_keys WHERE key_hash = $1`,
  ),
  // RATCHET_ADMIN_KEY's row: made on first start, given the variable's value on every start
  // after (a changed value retires the previous one), and never left revoked.
  bootstrap: statement(
    'api-key-bootstrap',
    `INSERT INTO api_keys (id, name, key_hash, prefix, admin) VALUES ($1, $2, $3, $4, true)
     ON CONFLICT (id) DO UPDATE
        SET key_hash = excluded.key_hash, prefix = excluded.prefix, revoked_at = NULL`,
  ),
  list: statement(
    'api-key-list',
    `SELECT id, name, prefix, admin, created_at AS "createdAt", revoked_at AS "revokedAt"
       FROM api_keys ORDER BY created_at, id`,
  ),
  revoke: statement(
    'api-key-revoke',
    `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
  ),
};

@Injectable()
export class ApiKeysRepository {
  /** Recent checks by key hash (misses included), so requests rarely wait on Postgres. */
  private readonly checked = new Map<string, { principal: Principal | null; until: number }>();

  constructor(private readonly sql: Sql) {}

  /** Creates a key and returns its secret; the secret is not stored and cannot be shown again. */
  async create(
    name: string,
    options: { admin?: boolean } = {},
  ): Promise<{ id: string; secret: string }> {
    const secret = generateKeySecret();
    const id = newId('key');
    await this.sql.query(SQL.create, [
      id,
      name,
      hashKey(secret),
      secret.slice(0, 10),
      options.admin ?? false,
    ]);
    return { id, secret };
  }

  async authenticate(secret: string): Promise<Principal | null> {
    const hash = hashKey(secret);
    const now = Date.now();
    const cached = this.checked.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const [key] = await this.sql.query<{ id: string; admin: boolean; revoked: boolean }>(SQL.find, [
      hash,
    ]);
    const principal = key && !key.revoked ? { keyId: key.id, admin: key.admin } : null;
    if (this.checked.size >= KEY_CACHE_SIZE) this.checked.clear();
    this.checked.set(hash, { principal, until: now + KEY_CACHE_TTL_MS });
    return principal;
  }

  /** Makes RATCHET_ADMIN_KEY a working admin key (and retires a previous value of it). */
  async ensureBootstrapAdmin(secret: string): Promise<void> {
    await this.sql.query(SQL.bootstrap, [
      BOOTSTRAP_ADMIN_KEY_ID,
      'RATCHET_ADMIN_KEY',
      hashKey(secret),
      secret.slice(0, 10),
    ]);
  }

  /** Every key, oldest first. */
  async list(): Promise<ApiKeyRecord[]> {
    return this.sql.query<ApiKeyRecord & Record<string, unknown>>(SQL.list);
  }

  /** Revokes a key; API processes stop accepting it within KEY_CACHE_TTL_MS. */
  async revoke(id: string): Promise<boolean> {
    const rows = await this.sql.query(SQL.revoke, [id]);
    return rows.length === 1;
  }
}
