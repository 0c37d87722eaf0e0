import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { migrate } from '../libs/store/src/migrate';
import { createTestDatabase, type TestDatabase, withClient } from './support/database';
import { compareSchemaWithDatabase } from './support/schema-drift';

// schema.prisma and the hand-written migrations are two descriptions of one database; this keeps
// them in step, since `prisma migrate diff` cannot run here.

const SCHEMA_PATH = path.resolve(__dirname, '../prisma/schema.prisma');

describe('schema drift', () => {
  const databases: TestDatabase[] = [];
  const tempDirs: string[] = [];

  afterEach(async () => {
    await Promise.all(databases.splice(0).map((database) => database.drop()));
    await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function database(name: string, options?: { empty: boolean }): Promise<string> {
    const created = await createTestDatabase(name, options);
    databases.push(created);
    return created.url;
  }

  it('the migrations build exactly the database schema.prisma describes', async () => {
    const url = await database('drift', { empty: true });
    await migrate(url);

    expect(await compareSchemaWithDatabase(SCHEMA_PATH, url)).toEqual([]);
  });

  it('reports database changes the schema does not know about', async () => {
    const url = await database('drift_db');
    await withClient(url, (client) =>
      client.query(`
        CREATE TABLE stray (id integer);
        ALTER TABLE api_keys ADD COLUMN extra integer;
        ALTER TABLE api_keys ALTER COLUMN created_at TYPE timestamptz(6);
        ALTER INDEX api_keys_key_hash_key RENAME TO api_keys_hash_unique;
        ALTER TABLE responses DROP COLUMN total_tokens;
        ALTER TABLE responses ALTER COLUMN store SET DEFAULT false;
        ALTER TABLE scopes ALTER COLUMN tools DROP DEFAULT;
        ALTER TABLE steps ALTER COLUMN round TYPE bigint;
        ALTER TYPE step_kind ADD VALUE 'sleep';
        DROP INDEX scopes_response_id_idx;
        ALTER TABLE events ALTER COLUMN type DROP NOT NULL;
        CREATE INDEX events_type_idx ON events (type);
        ALTER TABLE conversation_items DROP CONSTRAINT conversation_items_conversation_id_fkey,
          ADD CONSTRAINT conversation_items_conversation_id_fkey FOREIGN KEY (conversation_id)
            REFERENCES conversations (id) ON UPDATE CASCADE;
      `),
    );

    const differences = await compareSchemaWithDatabase(SCHEMA_PATH, url);

    expect([...differences].sort()).toEqual(
      [
        'table "stray" is in the database but not in the schema',
        'column "api_keys"."extra" (integer) is in the database but not in the schema',
        'column "api_keys"."created_at": schema expects type timestamp(3) with time zone, ' +
          'database has timestamp(6) with time zone',
        'unique index on "api_keys"("key_hash"): schema expects name "api_keys_key_hash_key", ' +
          'database has "api_keys_hash_unique"',
        'column "responses"."total_tokens" (Response.totalTokens) is missing from the database',
        'column "responses"."store": schema expects default true, database has default false',
        `column "scopes"."tools": schema expects default '[]', database has no default`,
        'column "steps"."round": schema expects type integer, database has bigint',
        'enum "step_kind": schema expects labels (model_call, tool_call, agent_call), ' +
          'database has (model_call, tool_call, agent_call, sleep)',
        'index on "scopes"("response_id") is missing from the database',
        'column "events"."type": schema expects NOT NULL, database has NULL allowed',
        'index on "events"("type") named "events_type_idx" is in the database but not in the schema',
        'foreign key on "conversation_items"("conversation_id") -> "conversations"("id"): ' +
          'schema expects ON DELETE CASCADE, database has ON DELETE NO ACTION',
      ].sort(),
    );
  });

  it('reports schema changes the migrations do not contain', async () => {
    const url = await database('drift_schema');
    const schema = editSchema(await readFile(SCHEMA_PATH, 'utf8'), [
      ['  prefix        String\n', '  prefix        String?\n'],
      ['  incomplete\n', '  incomplete\n  expired\n'],
      ['  @@index([responseId])\n  @@map("scopes")', '  @@index([model])\n  @@map("scopes")'],
      ['  @@map("events")\n}\n', '  @@map("events")\n}\n\nmodel Audit {\n  id String @id\n}\n'],
    ]);
    const dir = await mkdtemp(path.join(tmpdir(), 'ratchet-drift-'));
    tempDirs.push(dir);
    const schemaPath = path.join(dir, 'schema.prisma');
    await writeFile(schemaPath, schema);

    const differences = await compareSchemaWithDatabase(schemaPath, url);

    expect([...differences].sort()).toEqual(
      [
        'column "api_keys"."prefix": schema expects NULL allowed, database has NOT NULL',
        'enum "response_status": schema expects labels ' +
          '(queued, in_progress, completed, failed, cancelled, incomplete, expired), ' +
          'database has (queued, in_progress, completed, failed, cancelled, incomplete)',
        'index on "scopes"("model") is missing from the database',
        'index on "scopes"("response_id") named "scopes_response_id_idx" is in the database ' +
          'but not in the schema',
        'table "Audit" (model Audit) is missing from the database',
      ].sort(),
    );
  });
});

/** Applies each [search, replacement] once, failing if the schema no longer contains `search`. */
function editSchema(schema: string, edits: ReadonlyArray<[string, string]>): string {
  return edits.reduce((text, [search, replacement]) => {
    if (text.split(search).length !== 2) throw new Error(`expected exactly one ${search}`);
    return text.replace(search, replacement);
  }, schema);
}
