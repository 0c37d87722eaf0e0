import { ResponsesRepository, Sql, StoredItemsRepository } from '@ratchet/store';
import { insertTopScope, migratedUpTo, type BeforeMigration } from './support/migrations';

// Output stored whole before references (20261205060000_output_refs) stays whole: it reads as
// it did, and its items are still found by their ids and call_ids, whose hashes the migration
// computes from it. A response not stored gets none.

const MIGRATION = '20261205060000_output_refs';

const CALL = {
  type: 'mcp_call',
  id: 'mcp_0123456789ab_old',
  call_id: 'call_old',
  server_label: 'http',
  name: 'echo',
  arguments: '{}',
  output: '{"ok":true}',
  error: null,
  status: 'completed',
};
const ANSWER = {
  type: 'message',
  id: 'msg_old',
  role: 'assistant',
  status: 'completed',
  content: [{ type: 'output_text', text: 'Done.', annotations: [], logprobs: [] }],
};

let before: BeforeMigration;
let sql: Sql;

beforeAll(async () => {
  before = await migratedUpTo('output_refs_migration', MIGRATION);
  await before.seed(async (db) => {
    for (const [id, store, output] of [
      ['resp_stored', true, [CALL, ANSWER]],
      ['resp_unstored', false, [{ ...ANSWER, id: 'msg_unstored' }]],
      ['resp_empty', true, []],
    ] as const) {
      await db.query(
        `INSERT INTO responses (id, owner_id, status, model, request, store, output)
         VALUES ($1, 'key_1', 'completed', 'mock', '{}', $2, $3::jsonb)`,
        [id, store, JSON.stringify(output)],
      );
      await insertTopScope(db, id);
    }
  });
  expect(await before.applyAll()).toContain(MIGRATION);
  sql = new Sql(before.database.url, 2);
});

afterAll(async () => {
  await sql?.onModuleDestroy();
  await before?.close();
});

it('reads output stored whole as it was', async () => {
  const record = await new ResponsesRepository(sql).findById('resp_stored');
  expect(record?.output).toEqual([CALL, ANSWER]);
});

it("finds the items of output stored whole by their ids and call_ids, a stored response's only", async () => {
  const items = new StoredItemsRepository(sql);
  const admin = { keyId: 'key_1', admin: true } as const;
  const byId = await items.byIds(['mcp_0123456789ab_old', 'msg_old', 'msg_unstored'], admin);
  expect(byId).toEqual(
    new Map<string, unknown>([
      ['mcp_0123456789ab_old', CALL],
      ['msg_old', ANSWER],
    ]),
  );
  expect(await items.serverCallsByCallIds(['call_old'], admin)).toEqual(
    new Map([['call_old', CALL]]),
  );
  const { rows } = await sql.pool.query<{ id: string; keys: number }>(
    `SELECT id, cardinality(output_keys) AS keys FROM responses ORDER BY id`,
  );
  expect(rows).toEqual([
    { id: 'resp_empty', keys: null },
    { id: 'resp_stored', keys: 3 },
    { id: 'resp_unstored', keys: null },
  ]);
});
