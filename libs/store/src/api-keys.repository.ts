import { createHash, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { newId } from '@ratchet/core';
import { PrismaService } from './prisma.service';

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

@Injectable()
export class ApiKeysRepository {
  /** Recent checks by key hash (misses included), so requests rarely wait on Postgres. */
  private readonly checked = new Map<string, { principal: Principal | null; until: number }>();

  constructor(private readonly prisma: PrismaService) {}

  /** Creates a key and returns its secret; the secret is not stored and cannot be shown again. */
  async create(
    name: string,
    options: { admin?: boolean } = {},
  ): Promise<{ id: string; secret: string }> {
    const secret = generateKeySecret();
    const id = newId('key');
    await this.prisma.apiKey.create({
      data: {
        id,
        name,
        keyHash: hashKey(secret),
        prefix: secret.slice(0, 10),
        admin: options.admin ?? false,
      },
    });
    return { id, secret };
  }

  async authenticate(secret: string): Promise<Principal | null> {
    const hash = hashKey(secret);
    const now = Date.now();
    const cached = this.checked.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const key = await this.prisma.apiKey.findUnique({
      where: { keyHash: hash },
      select: { id: true, admin: true, revokedAt: true },
    });
    const principal = key && !key.revokedAt ? { keyId: key.id, admin: key.admin } : null;
    if (this.checked.size >= KEY_CACHE_SIZE) this.checked.clear();
    this.checked.set(hash, { principal, until: now + KEY_CACHE_TTL_MS });
    return principal;
  }

  /** Makes RATCHET_ADMIN_KEY a working admin key (and retires a previous value of it). */
  async ensureBootstrapAdmin(secret: string): Promise<void> {
    const data = { keyHash: hashKey(secret), prefix: secret.slice(0, 10), revokedAt: null };
    await this.prisma.apiKey.upsert({
      where: { id: BOOTSTRAP_ADMIN_KEY_ID },
      create: { id: BOOTSTRAP_ADMIN_KEY_ID, name: 'RATCHET_ADMIN_KEY', admin: true, ...data },
      update: data,
    });
  }

  async list(): Promise<
    {
      id: string;
      name: string;
      prefix: string;
      admin: boolean;
      createdAt: Date;
      revokedAt: Date | null;
    }[]
  > {
    return this.prisma.apiKey.findMany({
      orderBy: { createdAt: 'asc' },
      select: { id: true, name: true, prefix: true, admin: true, createdAt: true, revokedAt: true },
    });
  }

  /** Revokes a key; API processes stop accepting it within KEY_CACHE_TTL_MS. */
  async revoke(id: string): Promise<boolean> {
    const { count } = await this.prisma.apiKey.updateMany({
      where: { id, revokedAt: null },
      data: { revokedAt: new Date() },
    });
    return count === 1;
  }
}
