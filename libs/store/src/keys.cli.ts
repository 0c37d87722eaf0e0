import { parseArgs } from 'node:util';
import { ApiKeysRepository } from './api-keys.repository';
import { Sql } from './sql';

// `npm run keys -- create --name NAME [--admin]` prints a new key once;
// `npm run keys -- list` and `npm run keys -- revoke --id ID` manage them.

const usage = `usage: npm run keys -- create --name NAME [--admin]
       npm run keys -- list
       npm run keys -- revoke --id KEY_ID`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { name: { type: 'string' }, id: { type: 'string' }, admin: { type: 'boolean' } },
  });
  const url = process.env.DATABASE_URL;
  if (!url) {
    process.stderr.write('keys: DATABASE_URL must be set\n');
    return 1;
  }
  const sql = new Sql(url, 1);
  const keys = new ApiKeysRepository(sql);
  try {
    switch (positionals[0]) {
      case 'create': {
        if (!values.name) break;
        const { id, secret } = await keys.create(values.name, { admin: values.admin });
        process.stdout.write(
          `created key ${id} (${values.name}${values.admin ? ', admin' : ''})\n`,
        );
        process.stdout.write(`${secret}\n`);
        process.stderr.write('store it now: the key is not kept and cannot be shown again\n');
        return 0;
      }
      case 'list': {
        for (const key of await keys.list()) {
          const state = key.revokedAt ? `revoked ${key.revokedAt.toISOString()}` : 'active';
          process.stdout.write(
            `${key.id}\t${key.prefix}…\t${key.name}\t${key.admin ? 'admin' : 'tenant'}\t${state}\n`,
          );
        }
        return 0;
      }
      case 'revoke': {
        if (!values.id) break;
        const revoked = await keys.revoke(values.id);
        process.stdout.write(revoked ? `revoked ${values.id}\n` : `no active key ${values.id}\n`);
        return revoked ? 0 : 1;
      }
    }
    process.stderr.write(`${usage}\n`);
    return 2;
  } finally {
    await sql.onModuleDestroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`keys: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
