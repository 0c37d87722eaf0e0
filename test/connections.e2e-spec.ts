import { Sql } from '@ratchet/store';
import { createTestDatabase, type TestDatabase } from './support/database';

// The settings every connection ratchet opens to Postgres carries.

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('connections');
});

afterAll(async () => {
  await database?.drop();
});

it('turns JIT compilation off on every connection of the pool', async () => {
  const sql = new Sql(database.url, 2);
  try {
    // Two at once, so the pool opens a second connection, and it too has the setting.
    const engine = await Promise.all([
      sql.query<{ jit: string }>({ name: 'show-jit', text: 'SHOW jit' }),
      sql.query<{ jit: string }>(
        { name: 'show-jit-2', text: 'SELECT pg_sleep(0.05), current_setting($1) AS jit' },
        ['jit'],
      ),
    ]);
    expect(engine.map((rows) => rows[0].jit)).toEqual(['off', 'off']);
  } finally {
    await sql.onModuleDestroy();
  }
});
