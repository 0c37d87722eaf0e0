import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { createBenchDatabase } from './bench-database';
import { Cleanup } from './cleanup';
import { fanoutShape } from './fanout';
import { deleteRedisKeys } from './machine';
import { startNoopToolServer } from './noop-tool-server';
import { RatchetClient } from './ratchet-client';
import { startRatchet } from './ratchet-processes';
import {
  breakdownSince,
  installWalInspection,
  startStretch,
  type WalBreakdown,
} from './wal-inspect';

// `node dist/bench/wal-breakdown.js`: Postgres WAL per fan-out response (model -> 4 parallel
// noop tool calls -> model, foreground POST), and where it goes, by table/index and record
// type and by statement. WAL is per server, so point BENCH_DATABASE_URL at a server of its
// own (see docs/wal.md); it needs pg_stat_statements in shared_preload_libraries and
// pg_walinspect (contrib). Two stretches are measured: one right after a CHECKPOINT (every
// first change of a page writes a full-page image) and one right after it without one.
//
//   BENCH_DATABASE_URL   server URL (default postgresql://postgres@127.0.0.1:5499/postgres)
//   BENCH_REDIS_URL      default redis://127.0.0.1:6379
//   BENCH_WAL_RESPONSES  responses per stretch (default 200)
//   BENCH_WAL_CONCURRENCY  foreground requests in flight at once (default 50)
//   BENCH_WAL_WARMUP     untimed responses first (default 50)

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be an integer >= 0`);
  return value;
}

function log(line: string): void {
  process.stderr.write(`wal: ${line}\n`);
}

async function runResponses(client: RatchetClient, count: number, inFlight: number): Promise<void> {
  const body = fanoutShape().body;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const response = await client.create(body);
      if (response.status !== 'completed') {
        throw new Error(`response ${response.id} ended ${response.status}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
}

function kb(bytes: number): string {
  return (bytes / 1024).toFixed(2);
}

/** First oid Postgres gives user objects: relations below it are its own catalogs. */
const FIRST_NORMAL_OID = 16384;

/**
 * Whether a relation is one of Postgres's catalogs (or their TOAST), which ratchet does not
 * write: an automatic analyze that falls in a stretch writes there (pg_statistic).
 */
function isCatalog(relation: string): boolean {
  const toast = /^pg_toast\.pg_toast_(\d+)/.exec(relation);
  if (toast) return Number(toast[1]) < FIRST_NORMAL_OID;
  return relation.startsWith('pg_');
}

/** Bytes of the stretch's records that went to Postgres's catalogs. */
function catalogBytes(wal: WalBreakdown): number {
  return wal.byRelation
    .filter((row) => isCatalog(row.relation))
    .reduce((sum, row) => sum + row.recordBytes + row.fpiBytes, 0);
}

function report(title: string, lsnBytes: number, responses: number, wal: WalBreakdown): string {
  const per = (bytes: number): string => (bytes / responses).toFixed(0);
  const catalogs = catalogBytes(wal);
  const lines = [
    `### ${title}`,
    '',
    `WAL per response: **${kb(lsnBytes / responses)} KB** by insert position ` +
      `(records ${kb(wal.totalBytes / responses)} KB, of which full-page images ` +
      `${kb(wal.fpiBytes / responses)} KB; ${(wal.records / responses).toFixed(1)} records). ` +
      `Postgres's catalogs (an automatic analyze in the stretch) took ` +
      `${kb(catalogs / responses)} KB of it: ratchet's own, ` +
      `**${kb((lsnBytes - catalogs) / responses)} KB**.`,
    '',
    '| relation | record type | records / resp. | bytes / resp. | FPI bytes / resp. |',
    '| --- | --- | ---: | ---: | ---: |',
  ];
  for (const row of wal.byRelation) {
    if (row.recordBytes + row.fpiBytes < responses) continue; // under 1 byte per response
    lines.push(
      `| ${row.relation} | ${row.recordType} | ${(row.records / responses).toFixed(2)} | ` +
        `${per(row.recordBytes)} | ${per(row.fpiBytes)} |`,
    );
  }
  lines.push('', '| statement | calls / resp. | WAL bytes / resp. | FPIs / resp. |');
  lines.push('| --- | ---: | ---: | ---: |');
  for (const row of wal.byStatement) {
    if (row.walBytes < responses) continue;
    const query = row.query.replace(/\s+/g, ' ').replace(/\|/g, '\\|').slice(0, 110);
    lines.push(
      `| \`${query}\` | ${(row.calls / responses).toFixed(2)} | ${per(row.walBytes)} | ` +
        `${(row.walFpi / responses).toFixed(2)} |`,
    );
  }
  return lines.join('\n') + '\n';
}

async function main(cleanup: Cleanup): Promise<void> {
  const serverUrl =
    process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5499/postgres';
  const redisUrl = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
  const responses = Math.max(1, envInt('BENCH_WAL_RESPONSES', 200));
  const inFlight = Math.max(1, envInt('BENCH_WAL_CONCURRENCY', 50));
  const warmup = envInt('BENCH_WAL_WARMUP', 50);

  const database = await createBenchDatabase(serverUrl);
  cleanup.add(`drop database ${database.name}`, database.drop);
  const redisPrefix = `ratchet-wal-${randomBytes(4).toString('hex')}`;
  cleanup.add(`delete redis keys ${redisPrefix}:*`, async () => {
    await deleteRedisKeys(redisUrl, redisPrefix);
  });
  const db = new Pool({ connectionString: database.url, max: 2 });
  cleanup.add('pg pool', () => db.end());
  await installWalInspection(db);
  const noop = await startNoopToolServer();
  cleanup.add('noop tool server', noop.close);
  const ratchet = await startRatchet({
    databaseUrl: database.url,
    redisUrl,
    redisPrefix,
    noopUrl: noop.url,
    workers: 1,
    concurrency: 64,
  });
  cleanup.add('ratchet processes', ratchet.stop);
  const client = new RatchetClient(ratchet.baseUrl, ratchet.adminKey, inFlight);
  cleanup.add('ratchet client', () => client.close());
  log(`ratchet ready on ${database.name}; ${warmup} warm-up responses`);
  await runResponses(client, warmup, inFlight);

  let out = '';
  for (const checkpoint of [true, false]) {
    const start = await startStretch(db, checkpoint);
    await runResponses(client, responses, inFlight);
    const { rows } = await db.query<{ bytes: string }>(
      'SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)::text AS bytes',
      [start],
    );
    const lsnBytes = Number(rows[0].bytes);
    ratchet.assertAlive();
    const wal = await breakdownSince(db, start);
    const title = checkpoint ? 'After a CHECKPOINT' : 'Continuing without a checkpoint';
    log(
      `${title}: ${kb(lsnBytes / responses)} KB per response, ` +
        `${kb((lsnBytes - catalogBytes(wal)) / responses)} KB of it ratchet's`,
    );
    out += report(
      `${title} (${responses} responses, ${inFlight} in flight)`,
      lsnBytes,
      responses,
      wal,
    );
    out += '\n';
  }
  process.stdout.write(out);
}

const cleanup = new Cleanup();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void cleanup.run(log).finally(() => process.exit(130)));
}
void main(cleanup)
  .catch((error: unknown) => {
    log(`failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup.run(log));
