import type { Pool } from 'pg';

// Where a stretch of WAL went, read back with pg_walinspect (Postgres 15 contrib) and
// pg_stat_statements: by relation (table or index) and record type, full-page images apart,
// and by statement. The figures are exact for the stretch: WAL is per server, so run this on a
// server nothing else writes to.

export interface WalRelationRow {
  relation: string;
  recordType: string;
  records: number;
  /** Record bytes, full-page images excluded. */
  recordBytes: number;
  fpiBytes: number;
}

export interface WalStatementRow {
  query: string;
  calls: number;
  walBytes: number;
  walFpi: number;
}

export interface WalBreakdown {
  totalBytes: number;
  fpiBytes: number;
  records: number;
  byRelation: WalRelationRow[];
  byStatement: WalStatementRow[];
}

/** Installs the two extensions in the database `db` points at (the server must preload pg_stat_statements). */
export async function installWalInspection(db: Pool): Promise<void> {
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
}

export async function walInsertPosition(db: Pool): Promise<string> {
  const { rows } = await db.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn() AS lsn');
  return rows[0].lsn;
}

/** Starts a stretch: statement counters reset, a checkpoint so every stretch pays the same full-page images. */
export async function startStretch(db: Pool, checkpoint: boolean): Promise<string> {
  if (checkpoint) await db.query('CHECKPOINT');
  await db.query('SELECT pg_stat_statements_reset()');
  return walInsertPosition(db);
}

/**
 * The breakdown of WAL from `start` to the current position. Records are attributed to the
 * relation of their first block reference (the one they change); records without one
 * (commits, running-xacts) are grouped by resource manager.
 */
export async function breakdownSince(db: Pool, start: string): Promise<WalBreakdown> {
  // pg_walinspect reads only flushed WAL; every commit flushes, so this is the stretch's end.
  const end = await db.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn() AS lsn');
  const endLsn = end.rows[0].lsn;
  const totals = await db.query<{ total: string; fpi: string; records: string }>(
    `SELECT coalesce(sum(record_length), 0)::text AS total,
            coalesce(sum(fpi_length), 0)::text AS fpi, count(*)::text AS records
       FROM pg_get_wal_records_info($1, $2)`,
    [start, endLsn],
  );
  const byRelation = await db.query<{
    relation: string;
    record_type: string;
    records: string;
    record_bytes: string;
    fpi_bytes: string;
  }>(
    `WITH r AS (
       SELECT resource_manager, record_type, record_length, fpi_length,
              substring(block_ref FROM 'rel \\d+/(\\d+)/\\d+')::oid AS dbnode,
              substring(block_ref FROM 'rel \\d+/\\d+/(\\d+)')::oid AS filenode
         FROM pg_get_wal_records_info($1, $2)
     )
     SELECT coalesce(CASE WHEN r.dbnode IN (0, (SELECT oid FROM pg_database
                                                 WHERE datname = current_database()))
                          THEN pg_filenode_relation(0, r.filenode)::text END,
                     CASE WHEN r.filenode IS NULL THEN '(' || r.resource_manager || ')'
                          ELSE 'filenode ' || r.filenode END) AS relation,
            r.resource_manager || '/' || r.record_type AS record_type,
            count(*)::text AS records,
            sum(r.record_length - r.fpi_length)::text AS record_bytes,
            sum(r.fpi_length)::text AS fpi_bytes
       FROM r
      GROUP BY 1, 2
      ORDER BY sum(r.record_length) DESC`,
    [start, endLsn],
  );
  const byStatement = await db.query<{
    query: string;
    calls: string;
    wal_bytes: string;
    wal_fpi: string;
  }>(
    `SELECT query, calls::text, wal_bytes::text, wal_fpi::text
       FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND wal_bytes > 0
      ORDER BY wal_bytes DESC`,
  );
  return {
    totalBytes: Number(totals.rows[0].total),
    fpiBytes: Number(totals.rows[0].fpi),
    records: Number(totals.rows[0].records),
    byRelation: byRelation.rows.map((row) => ({
      relation: row.relation,
      recordType: row.record_type,
      records: Number(row.records),
      recordBytes: Number(row.record_bytes),
      fpiBytes: Number(row.fpi_bytes),
    })),
    byStatement: byStatement.rows.map((row) => ({
      query: row.query,
      calls: Number(row.calls),
      walBytes: Number(row.wal_bytes),
      walFpi: Number(row.wal_fpi),
    })),
  };
}
