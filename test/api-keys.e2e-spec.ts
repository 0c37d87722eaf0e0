import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApiKeysRepository, BOOTSTRAP_ADMIN_KEY_ID, hashKey, Sql } from '@ratchet/store';
import { createTestDatabase, type TestDatabase } from './support/database';
import { repoRoot } from './support/processes';

// API keys as Postgres keeps them: made, checked, listed, revoked, and the bootstrap admin key
// that follows RATCHET_ADMIN_KEY. Each check goes through a repository of its own, since a
// repository remembers its checks for a while (KEY_CACHE_TTL_MS).

const run = promisify(execFile);

let database: TestDatabase;
let sql: Sql;

beforeAll(async () => {
  database = await createTestDatabase('api_keys');
  sql = new Sql(database.url, 2);
});

afterAll(async () => {
  await sql?.onModuleDestroy();
  await database?.drop();
});

const check = (secret: string) => new ApiKeysRepository(sql).authenticate(secret);

it('makes a key whose secret is shown once and stored only as its hash', async () => {
  const keys = new ApiKeysRepository(sql);
  const { id, secret } = await keys.create('tenant a');
  expect(secret).toMatch(/^rk-[A-Za-z0-9_-]{43}$/);
  expect(await check(secret)).toEqual({ keyId: id, admin: false });
  expect(await check(`${secret}x`)).toBeNull();

  const [row] = (
    await sql.pool.query<{ key_hash: string; prefix: string }>(
      'SELECT key_hash, prefix FROM api_keys WHERE id = $1',
      [id],
    )
  ).rows;
  expect(row).toEqual({ key_hash: hashKey(secret), prefix: secret.slice(0, 10) });

  const admin = await keys.create('operator', { admin: true });
  expect(await check(admin.secret)).toEqual({ keyId: admin.id, admin: true });
});

it('lists keys oldest first, without their secrets, and revokes each once', async () => {
  const keys = new ApiKeysRepository(sql);
  const first = await keys.create('listed first');
  // created_at has millisecond precision: apart, so that the order is theirs, not the ids'.
  await new Promise((resolve) => setTimeout(resolve, 5));
  const second = await keys.create('listed second');
  const listed = await keys.list();
  const ids = listed.map((key) => key.id);
  expect(ids.indexOf(first.id)).toBeLessThan(ids.indexOf(second.id));
  const entry = listed.find((key) => key.id === second.id)!;
  expect(Object.keys(entry).sort()).toEqual(
    ['admin', 'createdAt', 'id', 'name', 'prefix', 'revokedAt'].sort(),
  );
  expect(entry).toMatchObject({ name: 'listed second', admin: false, revokedAt: null });
  expect(entry.createdAt).toBeInstanceOf(Date);

  expect(await keys.revoke(second.id)).toBe(true);
  expect(await keys.revoke(second.id)).toBe(false);
  expect(await keys.revoke('key_unknown')).toBe(false);
  expect(await check(second.secret)).toBeNull();
  expect(await check(first.secret)).toEqual({ keyId: first.id, admin: false });
  const revoked = (await keys.list()).find((key) => key.id === second.id)!;
  expect(revoked.revokedAt).toBeInstanceOf(Date);
});

it('remembers its checks: a revocation shows where the key was not checked lately', async () => {
  const keys = new ApiKeysRepository(sql);
  const { id, secret } = await keys.create('cached');
  expect(await keys.authenticate(secret)).toEqual({ keyId: id, admin: false });
  expect(await new ApiKeysRepository(sql).revoke(id)).toBe(true);
  // This repository checked the key a moment ago; a fresh one sees the revocation.
  expect(await keys.authenticate(secret)).toEqual({ keyId: id, admin: false });
  expect(await check(secret)).toBeNull();
});

it('makes RATCHET_ADMIN_KEY an admin key, follows its changes and undoes a revocation', async () => {
  const keys = new ApiKeysRepository(sql);
  await keys.ensureBootstrapAdmin('rk-bootstrap-one-0123456789');
  expect(await check('rk-bootstrap-one-0123456789')).toEqual({
    keyId: BOOTSTRAP_ADMIN_KEY_ID,
    admin: true,
  });

  // A new value retires the previous one; processes starting together agree.
  await Promise.all([
    keys.ensureBootstrapAdmin('rk-bootstrap-two-0123456789'),
    new ApiKeysRepository(sql).ensureBootstrapAdmin('rk-bootstrap-two-0123456789'),
  ]);
  expect(await check('rk-bootstrap-one-0123456789')).toBeNull();
  expect(await check('rk-bootstrap-two-0123456789')).toEqual({
    keyId: BOOTSTRAP_ADMIN_KEY_ID,
    admin: true,
  });

  // Revoked, it works again once a process starts with it.
  expect(await keys.revoke(BOOTSTRAP_ADMIN_KEY_ID)).toBe(true);
  expect(await check('rk-bootstrap-two-0123456789')).toBeNull();
  await keys.ensureBootstrapAdmin('rk-bootstrap-two-0123456789');
  expect(await check('rk-bootstrap-two-0123456789')).not.toBeNull();
  const bootstrap = (await keys.list()).filter((key) => key.id === BOOTSTRAP_ADMIN_KEY_ID);
  expect(bootstrap).toEqual([
    expect.objectContaining({ name: 'RATCHET_ADMIN_KEY', admin: true, revokedAt: null }),
  ]);
});

it('manages keys from the command line: create, list, revoke', async () => {
  const cli = (...args: string[]) =>
    run(process.execPath, [path.join(repoRoot, 'dist/libs/store/src/keys.cli.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: database.url },
    });
  const created = await cli('create', '--name', 'from the cli', '--admin');
  const [line, secret] = created.stdout.trim().split('\n');
  const id = /^created key (key_[0-9a-f]+) \(from the cli, admin\)$/.exec(line)?.[1];
  expect(id).toBeDefined();
  expect(await check(secret)).toEqual({ keyId: id, admin: true });

  const listed = (await cli('list')).stdout.split('\n').find((row) => row.startsWith(`${id}\t`));
  expect(listed).toBe(`${id}\t${secret.slice(0, 10)}…\tfrom the cli\tadmin\tactive`);

  expect((await cli('revoke', '--id', id!)).stdout).toBe(`revoked ${id}\n`);
  await expect(cli('revoke', '--id', id!)).rejects.toMatchObject({
    code: 1,
    stdout: `no active key ${id}\n`,
  });
  const after = (await cli('list')).stdout.split('\n').find((row) => row.startsWith(`${id}\t`));
  expect(after).toMatch(/\trevoked \d{4}-\d{2}-\d{2}T/);
});
