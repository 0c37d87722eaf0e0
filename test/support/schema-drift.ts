import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual, stripVTControlCharacters } from 'node:util';
import { getDMMF, type GetDMMFError } from '@prisma/get-dmmf';
import { Client } from 'pg';

// `prisma migrate diff` needs the native schema engine, which cannot run here, so this compares
// schema.prisma (through Prisma's wasm DMMF) with what the hand-written migrations built.
// Only the Postgres features schema.prisma can express are checked; anything the checker does
// not understand is reported as a difference rather than silently passed.

type Document = Exclude<ReturnType<typeof getDMMF>, GetDMMFError>;
type Datamodel = Document['datamodel'];
type Model = Datamodel['models'][number];
type Field = Model['fields'][number];
type Index = Datamodel['indexes'][number];

/** Tables Prisma owns itself; schema.prisma never describes them. */
const BOOKKEEPING_TABLES = new Set(['_prisma_migrations']);

/**
 * Indexes over an expression, which schema.prisma cannot express, as `table.index`. Each is
 * named in a comment of its model and made by a migration that says what it is for; it is left
 * out of the comparison only while it is an expression index.
 */
const EXPRESSION_INDEXES = new Set<string>();

const MAX_IDENTIFIER_LENGTH = 63;

/** Prisma scalar -> Postgres type as `format_type()` prints it, when no @db attribute is set. */
const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

/** @db.<name>(args) -> `format_type()` text. */
const NATIVE_TYPES: Record<string, (args: readonly string[]) => string> = {
  Text: () => 'text',
  VarChar: (args) => withModifiers('character varying', args),
  Char: (args) => withModifiers('character', args),
  Uuid: () => 'uuid',
  SmallInt: () => 'smallint',
  Integer: () => 'integer',
  BigInt: () => 'bigint',
  Real: () => 'real',
  DoublePrecision: () => 'double precision',
  Decimal: (args) => withModifiers('numeric', args),
  Money: () => 'money',
  Boolean: () => 'boolean',
  Date: () => 'date',
  Timestamp: (args) => `${withModifiers('timestamp', args)} without time zone`,
  Timestamptz: (args) => `${withModifiers('timestamp', args)} with time zone`,
  Time: (args) => `${withModifiers('time', args)} without time zone`,
  Timetz: (args) => `${withModifiers('time', args)} with time zone`,
  Json: () => 'json',
  JsonB: () => 'jsonb',
  ByteA: () => 'bytea',
  Inet: () => 'inet',
  Citext: () => 'citext',
  Xml: () => 'xml',
  Oid: () => 'oid',
};

/** Prisma referential action -> SQL. */
const REFERENTIAL_ACTIONS: Record<string, string> = {
  Cascade: 'CASCADE',
  Restrict: 'RESTRICT',
  NoAction: 'NO ACTION',
  SetNull: 'SET NULL',
  SetDefault: 'SET DEFAULT',
};

/** pg_constraint.confdeltype / confupdtype -> SQL. */
const PG_REFERENTIAL_ACTIONS: Record<string, string> = {
  c: 'CASCADE',
  r: 'RESTRICT',
  a: 'NO ACTION',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

/** Defaults Prisma Client computes itself: the column has no database default. */
const CLIENT_SIDE_GENERATORS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

interface DefaultExpectation {
  description: string;
  matches(actual: string | null): boolean;
}

interface TypeExpectation {
  description: string;
  matches(actual: DatabaseColumn): boolean;
}

interface ExpectedColumn {
  table: string;
  name: string;
  /** `Model.field`, to point at the schema line. */
  source: string;
  type: TypeExpectation;
  nullable: boolean;
  default: DefaultExpectation;
}

type IndexKind = 'primary key' | 'unique index' | 'index';

interface IndexColumn {
  name: string;
  descending: boolean;
}

interface ExpectedIndex {
  table: string;
  /** `<kind> on "table"("col", ...)`: identifies the index and names it in messages. */
  key: string;
  /** Null when Prisma would truncate the default name; truncation is not modelled. */
  name: string | null;
  method: string;
}

interface ExpectedForeignKey {
  table: string;
  key: string;
  onDelete: string;
  onUpdate: string;
}

interface ExpectedSchema {
  enums: Map<string, string[]>;
  /** table name -> model name */
  tables: Map<string, string>;
  columns: ExpectedColumn[];
  indexes: ExpectedIndex[];
  foreignKeys: ExpectedForeignKey[];
}

interface DatabaseColumn {
  table: string;
  name: string;
  dataType: string;
  udtName: string;
  formattedType: string;
  nullable: boolean;
  default: string | null;
}

interface DatabaseIndex {
  key: string;
  name: string;
  method: string;
}

interface DatabaseForeignKey {
  key: string;
  name: string;
  onDelete: string;
  onUpdate: string;
}

interface DatabaseSchema {
  enums: Map<string, string[]>;
  tables: string[];
  columns: DatabaseColumn[];
  indexes: DatabaseIndex[];
  foreignKeys: DatabaseForeignKey[];
}

/**
 * Lists every difference between the models in `schemaPath` and the tables, columns, enums,
 * indexes and foreign keys in the database's current schema. Empty means no drift.
 */
export async function compareSchemaWithDatabase(
  schemaPath: string,
  connectionString: string,
): Promise<string[]> {
  const datamodel = loadDatamodel(await readFile(schemaPath, 'utf8'), schemaPath);
  const expected = expectedSchema(datamodel);
  const client = new Client({ connectionString });
  await client.connect();
  try {
    return diffSchemas(expected, await readDatabaseSchema(client));
  } finally {
    await client.end();
  }
}

function loadDatamodel(schema: string, schemaPath: string): Datamodel {
  // getDMMF is synchronous in Prisma 7 and returns its failures instead of throwing them.
  const result = getDMMF({ datamodel: schema });
  if ('datamodel' in result) return result.datamodel;
  throw new Error(`${schemaPath} is not a valid Prisma schema: ${dmmfErrorMessage(result)}`);
}

function dmmfErrorMessage(error: GetDMMFError): string {
  // The wasm error message is JSON wrapping an ANSI-coloured report.
  try {
    const parsed = JSON.parse(error.error.message) as { message?: unknown };
    if (typeof parsed.message === 'string') return stripVTControlCharacters(parsed.message);
  } catch {
    // Not JSON: the raw message is the best there is.
  }
  return error.error.message;
}

// ---------------------------------------------------------------------------------------------
// What schema.prisma expects

function expectedSchema(datamodel: Datamodel): ExpectedSchema {
  const models = new Map(datamodel.models.map((model) => [model.name, model]));
  const enums = new Map(
    datamodel.enums.map((prismaEnum) => [
      prismaEnum.dbName ?? prismaEnum.name,
      prismaEnum.values.map((value) => value.dbName ?? value.name),
    ]),
  );
  return {
    enums,
    tables: new Map(datamodel.models.map((model) => [tableName(model), model.name])),
    columns: datamodel.models.flatMap((model) =>
      scalarFields(model).map((field) => expectedColumn(model, field, datamodel)),
    ),
    indexes: datamodel.indexes.map((index) =>
      expectedIndex(index, modelNamed(models, index.model)),
    ),
    foreignKeys: datamodel.models.flatMap((model) =>
      model.fields
        .filter((field) => field.kind === 'object' && (field.relationFromFields?.length ?? 0) > 0)
        .map((field) => expectedForeignKey(model, field, modelNamed(models, field.type))),
    ),
  };
}

function expectedColumn(model: Model, field: Field, datamodel: Datamodel): ExpectedColumn {
  return {
    table: tableName(model),
    name: columnName(field),
    source: `${model.name}.${field.name}`,
    type: expectedType(field, datamodel),
    // Prisma Migrate creates scalar-list columns without NOT NULL even though the schema
    // calls them required (prisma/prisma#4729), so a nullable array is what migrations match.
    nullable: field.isList || !field.isRequired,
    default: expectedDefault(field, datamodel),
  };
}

function expectedType(field: Field, datamodel: Datamodel): TypeExpectation {
  const list = field.isList ? '[]' : '';
  switch (field.kind) {
    case 'enum': {
      const prismaEnum = datamodel.enums.find((candidate) => candidate.name === field.type);
      const name = prismaEnum?.dbName ?? field.type;
      // Compared by name rather than format_type(), which quotes or schema-qualifies some names.
      return {
        description: `enum ${name}${list}`,
        matches: (column) =>
          column.dataType === (field.isList ? 'ARRAY' : 'USER-DEFINED') &&
          column.udtName === (field.isList ? `_${name}` : name),
      };
    }
    case 'unsupported':
      return { description: `Unsupported(${field.type})`, matches: () => true };
    case 'scalar': {
      const base = scalarType(field);
      const formatted = base === undefined ? undefined : `${base}${list}`;
      return {
        description: formatted ?? `unknown to the drift checker (${describeNativeType(field)})`,
        matches: (column) => formatted !== undefined && column.formattedType === formatted,
      };
    }
    case 'object':
      throw new Error(`${field.name} is a relation field and has no column`);
  }
}

function scalarType(field: Field): string | undefined {
  if (!field.nativeType) return SCALAR_TYPES[field.type];
  const [name, args] = field.nativeType;
  return NATIVE_TYPES[name]?.(args);
}

function describeNativeType(field: Field): string {
  return field.nativeType ? `@db.${field.nativeType[0]}` : field.type;
}

function withModifiers(type: string, args: readonly string[]): string {
  return args.length === 0 ? type : `${type}(${args.join(',')})`;
}

function expectedDefault(field: Field, datamodel: Datamodel): DefaultExpectation {
  const value = field.default;
  if (value === undefined) {
    return { description: 'no default', matches: (actual) => actual === null };
  }
  if (Array.isArray(value) || field.isList) return anyDefault('a list default');
  if (typeof value === 'object') {
    const { name, args } = value as { name: string; args: readonly (string | number)[] };
    if (name === 'now') {
      return {
        description: 'CURRENT_TIMESTAMP',
        matches: (actual) => actual === 'CURRENT_TIMESTAMP' || actual === 'now()',
      };
    }
    if (name === 'autoincrement' || name === 'sequence') {
      return { description: 'nextval(...)', matches: (actual) => !!actual?.startsWith('nextval(') };
    }
    if (CLIENT_SIDE_GENERATORS.has(name)) {
      return {
        description: `no default (${name}() runs in Prisma Client)`,
        matches: (actual) => actual === null,
      };
    }
    // Postgres re-prints expressions its own way, so dbgenerated() is checked for presence only.
    return anyDefault(`${name}(${args.map((arg) => JSON.stringify(arg)).join(', ')})`);
  }
  return literalDefault(field, String(value), datamodel);
}

function literalDefault(field: Field, value: string, datamodel: Datamodel): DefaultExpectation {
  if (field.type === 'Json') {
    return {
      description: `'${value}'`,
      matches: (actual) => actual !== null && jsonEquals(literalText(actual), value),
    };
  }
  if (field.type === 'DateTime') return anyDefault(`'${value}'`);
  const expected =
    field.kind === 'enum'
      ? (datamodel.enums
          .find((candidate) => candidate.name === field.type)
          ?.values.find((enumValue) => enumValue.name === value)?.dbName ?? value)
      : value;
  const quoted = field.type === 'String' || field.kind === 'enum';
  return {
    description: quoted ? `'${expected}'` : expected,
    matches: (actual) => actual !== null && literalText(actual) === expected,
  };
}

function anyDefault(description: string): DefaultExpectation {
  return { description, matches: (actual) => actual !== null };
}

/** `'it''s'::text` -> `it's`; `'-1'::integer` -> `-1`; `false` -> `false`. */
function literalText(defaultExpression: string): string {
  const withoutCasts = defaultExpression.replace(/(::[\w ".[\]()]+)+$/, '');
  const quoted = /^'((?:[^']|'')*)'$/.exec(withoutCasts);
  return quoted ? quoted[1].replace(/''/g, "'") : withoutCasts;
}

function jsonEquals(left: string, right: string): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(left), JSON.parse(right));
  } catch {
    return false;
  }
}

function expectedIndex(index: Index, model: Model): ExpectedIndex {
  const table = tableName(model);
  const columns = index.fields.map((indexField) => ({
    name: columnName(fieldNamed(model, indexField.name)),
    descending: indexField.sortOrder === 'desc',
  }));
  const kind = indexKind(index);
  const defaultName = `${table}_${defaultNameSuffix(kind, columns)}`;
  return {
    table,
    key: indexKey(kind, table, columns),
    name: index.dbName ?? (defaultName.length <= MAX_IDENTIFIER_LENGTH ? defaultName : null),
    method: (index.algorithm ?? 'btree').toLowerCase(),
  };
}

function indexKind(index: Index): IndexKind {
  switch (index.type) {
    case 'id':
      return 'primary key';
    case 'unique':
      return 'unique index';
    case 'normal':
    case 'fulltext':
      return 'index';
  }
}

/** Prisma's default constraint names: <table>_pkey, <table>_<cols>_key, <table>_<cols>_idx. */
function defaultNameSuffix(kind: IndexKind, columns: readonly IndexColumn[]): string {
  const plainColumns = columns.map((column) => column.name).join('_');
  switch (kind) {
    case 'primary key':
      return 'pkey';
    case 'unique index':
      return `${plainColumns}_key`;
    case 'index':
      return `${plainColumns}_idx`;
  }
}

function expectedForeignKey(model: Model, field: Field, target: Model): ExpectedForeignKey {
  const columns = (field.relationFromFields ?? []).map((name) =>
    columnName(fieldNamed(model, name)),
  );
  const referenced = (field.relationToFields ?? []).map((name) =>
    columnName(fieldNamed(target, name)),
  );
  // Prisma's defaults when the relation does not say: Restrict for a required relation,
  // SetNull for an optional one; Cascade on update either way.
  const onDelete = field.relationOnDelete ?? (field.isRequired ? 'Restrict' : 'SetNull');
  const onUpdate = field.relationOnUpdate ?? 'Cascade';
  return {
    table: tableName(model),
    key: foreignKeyKey(tableName(model), columns, tableName(target), referenced),
    onDelete: REFERENTIAL_ACTIONS[onDelete] ?? onDelete,
    onUpdate: REFERENTIAL_ACTIONS[onUpdate] ?? onUpdate,
  };
}

function scalarFields(model: Model): readonly Field[] {
  return model.fields.filter((field) => field.kind !== 'object');
}

function tableName(model: Model): string {
  return model.dbName ?? model.name;
}

function columnName(field: Field): string {
  return field.dbName ?? field.name;
}

function modelNamed(models: Map<string, Model>, name: string): Model {
  const model = models.get(name);
  if (!model) throw new Error(`DMMF refers to unknown model ${name}`);
  return model;
}

function fieldNamed(model: Model, name: string): Field {
  const field = model.fields.find((candidate) => candidate.name === name);
  if (!field) throw new Error(`DMMF refers to unknown field ${model.name}.${name}`);
  return field;
}

function indexKey(kind: IndexKind, table: string, columns: readonly IndexColumn[]): string {
  const list = columns.map((column) => `${quote(column.name)}${column.descending ? ' DESC' : ''}`);
  return `${kind} on ${quote(table)}(${list.join(', ')})`;
}

function foreignKeyKey(
  table: string,
  columns: readonly string[],
  referencedTable: string,
  referencedColumns: readonly string[],
): string {
  const from = `${quote(table)}(${columns.map(quote).join(', ')})`;
  const to = `${quote(referencedTable)}(${referencedColumns.map(quote).join(', ')})`;
  return `foreign key on ${from} -> ${to}`;
}

function quote(identifier: string): string {
  return `"${identifier}"`;
}

// ---------------------------------------------------------------------------------------------
// What the database has

async function readDatabaseSchema(client: Client): Promise<DatabaseSchema> {
  // One after another: a pg Client runs one query at a time anyway.
  return {
    tables: await readTables(client),
    columns: await readColumns(client),
    enums: await readEnums(client),
    indexes: await readIndexes(client),
    foreignKeys: await readForeignKeys(client),
  };
}

async function readTables(client: Client): Promise<string[]> {
  const result = await client.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
      ORDER BY table_name`,
  );
  return result.rows.map((row) => row.table_name).filter((name) => !BOOKKEEPING_TABLES.has(name));
}

async function readColumns(client: Client): Promise<DatabaseColumn[]> {
  const result = await client.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    udt_name: string;
    formatted_type: string;
    nullable: boolean;
    column_default: string | null;
  }>(
    `SELECT c.table_name, c.column_name, c.data_type, c.udt_name,
            format_type(a.atttypid, a.atttypmod) AS formatted_type,
            c.is_nullable = 'YES' AS nullable, c.column_default
       FROM information_schema.columns c
       JOIN information_schema.tables t
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        AND t.table_type = 'BASE TABLE'
       JOIN pg_attribute a
         ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass
        AND a.attname = c.column_name
      WHERE c.table_schema = current_schema()
      ORDER BY c.table_name, c.ordinal_position`,
  );
  return result.rows
    .filter((row) => !BOOKKEEPING_TABLES.has(row.table_name))
    .map((row) => ({
      table: row.table_name,
      name: row.column_name,
      dataType: row.data_type,
      udtName: row.udt_name,
      formattedType: row.formatted_type,
      nullable: row.nullable,
      default: row.column_default,
    }));
}

async function readEnums(client: Client): Promise<Map<string, string[]>> {
  const result = await client.query<{ name: string; labels: string[] }>(
    `SELECT t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
       FROM pg_type t
       JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typnamespace = current_schema()::regnamespace
      GROUP BY t.typname`,
  );
  return new Map(result.rows.map((row) => [row.name, row.labels]));
}

async function readIndexes(client: Client): Promise<DatabaseIndex[]> {
  // indkey/indoption are 0-based int2vectors; bit 1 of indoption marks a DESC key column. An
  // expression column has attnum 0, so it is shown as its expression text.
  const result = await client.query<{
    table_name: string;
    index_name: string;
    is_primary: boolean;
    is_unique: boolean;
    method: string;
    expression: boolean;
    columns: IndexColumn[];
  }>(
    `SELECT tbl.relname AS table_name, idx.relname AS index_name,
            i.indisprimary AS is_primary, i.indisunique AS is_unique, am.amname AS method,
            i.indexprs IS NOT NULL AS expression,
            (SELECT json_agg(json_build_object(
                      'name', coalesce(a.attname::text,
                                       pg_get_indexdef(i.indexrelid, k.ord::int, true)),
                      'descending', coalesce(i.indoption[k.ord - 1] & 1 = 1, false))
                    ORDER BY k.ord)
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            ) AS columns
       FROM pg_index i
       JOIN pg_class idx ON idx.oid = i.indexrelid
       JOIN pg_class tbl ON tbl.oid = i.indrelid
       JOIN pg_am am ON am.oid = idx.relam
      WHERE tbl.relnamespace = current_schema()::regnamespace
      ORDER BY tbl.relname, idx.relname`,
  );
  return result.rows
    .filter((row) => !BOOKKEEPING_TABLES.has(row.table_name))
    .filter(
      (row) => !(EXPRESSION_INDEXES.has(`${row.table_name}.${row.index_name}`) && row.expression),
    )
    .map((row) => ({
      key: indexKey(indexKindOf(row), row.table_name, row.columns),
      name: row.index_name,
      method: row.method,
    }));
}

function indexKindOf(row: { is_primary: boolean; is_unique: boolean }): IndexKind {
  if (row.is_primary) return 'primary key';
  return row.is_unique ? 'unique index' : 'index';
}

async function readForeignKeys(client: Client): Promise<DatabaseForeignKey[]> {
  const result = await client.query<{
    name: string;
    table_name: string;
    columns: string[];
    referenced_table: string;
    referenced_columns: string[];
    on_delete: string;
    on_update: string;
  }>(
    `SELECT con.conname AS name, tbl.relname AS table_name, ref.relname AS referenced_table,
            array(
              SELECT a.attname::text
                FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
               ORDER BY k.ord
            ) AS columns,
            array(
              SELECT a.attname::text
                FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
               ORDER BY k.ord
            ) AS referenced_columns,
            con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update
       FROM pg_constraint con
       JOIN pg_class tbl ON tbl.oid = con.conrelid
       JOIN pg_class ref ON ref.oid = con.confrelid
      WHERE con.contype = 'f' AND tbl.relnamespace = current_schema()::regnamespace
      ORDER BY tbl.relname, con.conname`,
  );
  return result.rows.map((row) => ({
    key: foreignKeyKey(row.table_name, row.columns, row.referenced_table, row.referenced_columns),
    name: row.name,
    onDelete: PG_REFERENTIAL_ACTIONS[row.on_delete] ?? row.on_delete,
    onUpdate: PG_REFERENTIAL_ACTIONS[row.on_update] ?? row.on_update,
  }));
}

// ---------------------------------------------------------------------------------------------
// The differences

function diffSchemas(expected: ExpectedSchema, actual: DatabaseSchema): string[] {
  // A missing table is reported once; listing each of its columns, indexes and keys adds nothing.
  const presentTables = new Set(actual.tables);
  const onPresentTables = <T extends { table: string }>(items: T[]): T[] =>
    items.filter((item) => presentTables.has(item.table));
  return [
    ...diffEnums(expected.enums, actual.enums),
    ...diffTables(expected.tables, actual.tables),
    ...diffColumns(onPresentTables(expected.columns), expected.tables, actual.columns),
    ...diffIndexes(onPresentTables(expected.indexes), actual.indexes),
    ...diffForeignKeys(onPresentTables(expected.foreignKeys), actual.foreignKeys),
  ];
}

function diffEnums(expected: Map<string, string[]>, actual: Map<string, string[]>): string[] {
  const differences: string[] = [];
  for (const [name, labels] of expected) {
    const actualLabels = actual.get(name);
    if (!actualLabels) {
      differences.push(`enum ${quote(name)} is missing from the database`);
    } else if (!isDeepStrictEqual(labels, actualLabels)) {
      differences.push(
        `enum ${quote(name)}: schema expects labels (${labels.join(', ')}), ` +
          `database has (${actualLabels.join(', ')})`,
      );
    }
  }
  for (const name of actual.keys()) {
    if (!expected.has(name))
      differences.push(`enum ${quote(name)} is in the database but not in the schema`);
  }
  return differences;
}

function diffTables(expected: Map<string, string>, actual: string[]): string[] {
  const actualTables = new Set(actual);
  const missing = [...expected]
    .filter(([table]) => !actualTables.has(table))
    .map(([table, model]) => `table ${quote(table)} (model ${model}) is missing from the database`);
  const extra = actual
    .filter((table) => !expected.has(table))
    .map((table) => `table ${quote(table)} is in the database but not in the schema`);
  return [...missing, ...extra];
}

function diffColumns(
  expected: ExpectedColumn[],
  expectedTables: Map<string, string>,
  actual: DatabaseColumn[],
): string[] {
  const actualByKey = new Map(
    actual.map((column) => [columnKey(column.table, column.name), column]),
  );
  const differences: string[] = [];
  for (const column of expected) {
    const key = columnKey(column.table, column.name);
    const actualColumn = actualByKey.get(key);
    if (actualColumn) {
      differences.push(...diffColumn(column, actualColumn));
    } else {
      differences.push(`column ${key} (${column.source}) is missing from the database`);
    }
  }
  const expectedKeys = new Set(expected.map((column) => columnKey(column.table, column.name)));
  for (const column of actual) {
    const key = columnKey(column.table, column.name);
    if (expectedTables.has(column.table) && !expectedKeys.has(key)) {
      differences.push(
        `column ${key} (${column.formattedType}) is in the database but not in the schema`,
      );
    }
  }
  return differences;
}

function diffColumn(expected: ExpectedColumn, actual: DatabaseColumn): string[] {
  const subject = `column ${columnKey(expected.table, expected.name)}`;
  const differences: string[] = [];
  if (!expected.type.matches(actual)) {
    differences.push(
      `${subject}: schema expects type ${expected.type.description}, database has ${actual.formattedType}`,
    );
  }
  if (expected.nullable !== actual.nullable) {
    differences.push(
      `${subject}: schema expects ${nullability(expected.nullable)}, database has ${nullability(actual.nullable)}`,
    );
  }
  if (!expected.default.matches(actual.default)) {
    differences.push(
      `${subject}: schema expects ${describeDefault(expected.default.description)}, ` +
        `database has ${actual.default === null ? 'no default' : `default ${actual.default}`}`,
    );
  }
  return differences;
}

function diffIndexes(expected: ExpectedIndex[], actual: DatabaseIndex[]): string[] {
  const differences: string[] = [];
  const unmatched = [...actual];
  for (const index of expected) {
    const position = unmatched.findIndex((candidate) => candidate.key === index.key);
    if (position === -1) {
      differences.push(`${index.key} is missing from the database`);
      continue;
    }
    const [match] = unmatched.splice(position, 1);
    if (index.name !== null && match.name !== index.name) {
      differences.push(
        `${index.key}: schema expects name "${index.name}", database has "${match.name}"`,
      );
    }
    if (match.method !== index.method) {
      differences.push(
        `${index.key}: schema expects method ${index.method}, database has ${match.method}`,
      );
    }
  }
  for (const index of unmatched) {
    differences.push(`${index.key} named "${index.name}" is in the database but not in the schema`);
  }
  return differences;
}

function diffForeignKeys(expected: ExpectedForeignKey[], actual: DatabaseForeignKey[]): string[] {
  const differences: string[] = [];
  const unmatched = [...actual];
  for (const foreignKey of expected) {
    const position = unmatched.findIndex((candidate) => candidate.key === foreignKey.key);
    if (position === -1) {
      differences.push(`${foreignKey.key} is missing from the database`);
      continue;
    }
    const [match] = unmatched.splice(position, 1);
    for (const rule of ['onDelete', 'onUpdate'] as const) {
      if (match[rule] !== foreignKey[rule]) {
        const clause = rule === 'onDelete' ? 'ON DELETE' : 'ON UPDATE';
        differences.push(
          `${foreignKey.key}: schema expects ${clause} ${foreignKey[rule]}, ` +
            `database has ${clause} ${match[rule]}`,
        );
      }
    }
  }
  for (const foreignKey of unmatched) {
    differences.push(
      `${foreignKey.key} named "${foreignKey.name}" is in the database but not in the schema`,
    );
  }
  return differences;
}

function columnKey(table: string, column: string): string {
  return `${quote(table)}.${quote(column)}`;
}

function nullability(nullable: boolean): string {
  return nullable ? 'NULL allowed' : 'NOT NULL';
}

function describeDefault(description: string): string {
  return description.startsWith('no default') ? description : `default ${description}`;
}
