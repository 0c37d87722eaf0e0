import { RecoveryRepository, Sql, statement, StepDetailsRepository } from '@ratchet/store';
import { insertTopScope, migratedUpTo, type BeforeMigration } from './support/migrations';

// A step's lease owner became `leased` over `executed_by` (20261205120000_steps_leased). A
// step running when the migration runs keeps its lease: its owner still renews it, another
// worker still cannot, and the step reads back as it did. A finished step keeps its worker
// and has no lease.

const MIGRATION = '20261205120000_steps_leased';
const OWNER = 'host-a:4242:9f1c2a';
const OTHER = 'host-b:4343:0b1d3e';

let before: BeforeMigration;
let sql: Sql;

beforeAll(async () => {
  before = await migratedUpTo('lease_migration', MIGRATION);
  await before.seed(async (db) => {
    await db.query(
      `INSERT INTO responses (id, owner_id, status, model, request)
       VALUES ('resp_live', 'key_1', 'in_progress', 'mock', '{}')`,
    );
    await insertTopScope(db, 'resp_live');
    await db.query(
      `INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, attempt,
                          lease_owner, executed_by, lease_expires_at, started_at, completed_at)
       VALUES ('step_done', 'resp_live', 'scope_live', 0, 0, 'model_call', 'completed', 1,
               NULL, $1, NULL, now(), now()),
              ('step_running', 'resp_live', 'scope_live', 1, 0, 'tool_call', 'running', 1,
               $1, $1, now() + interval '10 seconds', now(), NULL)`,
      [OWNER],
    );
  });
  expect(await before.applyAll()).toContain(MIGRATION);
  sql = new Sql(before.database.url, 2);
});

afterAll(async () => {
  await sql?.onModuleDestroy();
  await before?.close();
});

const LEASE_END = statement(
  'test-lease-end',
  `SELECT lease_expires_at AS at FROM steps WHERE response_id = 'resp_live' AND id = 'step_running'`,
);

async function leaseEnds(): Promise<number> {
  const [row] = await sql.query<{ at: Date }>(LEASE_END);
  return row.at.getTime();
}

it('reads a running step with its lease owner and a finished one with its worker only', async () => {
  const { steps } = await new StepDetailsRepository(sql).tree('resp_live');
  expect(
    steps.map(({ id, lease_owner, executed_by }) => ({ id, lease_owner, executed_by })),
  ).toEqual([
    { id: 'step_done', lease_owner: null, executed_by: OWNER },
    { id: 'step_running', lease_owner: OWNER, executed_by: OWNER },
  ]);
});

it('lets the owner renew the lease it held before the migration, and no other worker', async () => {
  const recovery = new RecoveryRepository(sql);
  const held = [{ responseId: 'resp_live', stepId: 'step_running' }];
  const before = await leaseEnds();
  await recovery.renewLeases(held, OTHER, 60_000);
  expect(await leaseEnds()).toBe(before);
  await recovery.renewLeases(held, OWNER, 60_000);
  expect(await leaseEnds()).toBeGreaterThan(before + 30_000);
});
