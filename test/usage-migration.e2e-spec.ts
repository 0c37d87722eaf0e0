import { ResponsesRepository, Sql, StepDetailsRepository } from '@ratchet/store';
import { insertTopScope, migratedUpTo, type BeforeMigration } from './support/migrations';

// Usage moved from a jsonb usage object to token columns (20261205010000_usage_columns). Rows
// written before keep their usage: the store reads back the object they held, the estimated
// flag included, and a response ended after the migration sums old and new steps alike.

const MIGRATION = '20261205010000_usage_columns';

let before: BeforeMigration;
let sql: Sql;

const usage = (input: number, cached: number, output: number, reasoning: number) => ({
  input_tokens: input,
  input_tokens_details: { cached_tokens: cached },
  output_tokens: output,
  output_tokens_details: { reasoning_tokens: reasoning },
  total_tokens: input + output,
});

beforeAll(async () => {
  before = await migratedUpTo('usage_migration', MIGRATION);

  await before.seed(async (db) => {
    for (const [id, status, total] of [
      ['resp_ended', 'completed', usage(30, 4, 9, 2)],
      ['resp_live', 'in_progress', null],
    ] as const) {
      await db.query(
        `INSERT INTO responses (id, owner_id, status, model, request, usage)
         VALUES ($1, 'key_1', $2::response_status, 'mock', '{}', $3::jsonb)`,
        [id, status, total === null ? null : JSON.stringify(total)],
      );
      await insertTopScope(db, id);
    }
    const steps: [string, string, number, unknown][] = [
      ['resp_ended', 'model_call', 0, usage(10, 4, 3, 2)],
      ['resp_ended', 'tool_call', 1, null],
      ['resp_ended', 'model_call', 2, usage(20, 0, 6, 0)],
      // Cut short: estimated. And one that an old writer stored without the details.
      ['resp_live', 'model_call', 0, { ...usage(7, 0, 5, 0), estimated: true }],
      ['resp_live', 'model_call', 1, { input_tokens: 3, output_tokens: 1, total_tokens: 4 }],
    ];
    for (const [responseId, kind, round, stepUsage] of steps) {
      await db.query(
        `INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, usage)
         VALUES ($1, $2, 'scope_' || substr($2, 6), $3, 0, $4::step_kind, 'completed', $5::jsonb)`,
        [
          `step_${responseId}_${round}`,
          responseId,
          round,
          kind,
          stepUsage === null ? null : JSON.stringify(stepUsage),
        ],
      );
    }
  });
  expect(await before.applyAll()).toContain(MIGRATION);
  sql = new Sql(before.database.url, 2);
});

afterAll(async () => {
  await sql?.onModuleDestroy();
  await before?.close();
});

it("keeps the usage of steps and responses stored as jsonb, each step's estimate flag included", async () => {
  const { steps } = await new StepDetailsRepository(sql).tree('resp_ended');
  expect(steps.map((step) => step.usage)).toEqual([usage(10, 4, 3, 2), null, usage(20, 0, 6, 0)]);
  const live = await new StepDetailsRepository(sql).tree('resp_live');
  expect(live.steps.map((step) => step.usage)).toEqual([
    { ...usage(7, 0, 5, 0), estimated: true },
    usage(3, 0, 1, 0),
  ]);
  const ended = await new ResponsesRepository(sql).findById('resp_ended');
  expect(ended?.usage).toEqual(usage(30, 4, 9, 2));
});

it('sums steps stored before the migration when a response ends after it', async () => {
  const responses = new ResponsesRepository(sql);
  const ended = await responses.finishWithUsage('resp_live', {
    status: 'completed',
    output: [],
    error: null,
    incompleteDetails: null,
  });
  expect(ended?.usage).toEqual(usage(10, 0, 6, 0));
  expect((await responses.findById('resp_live'))?.usage).toEqual(usage(10, 0, 6, 0));
});
