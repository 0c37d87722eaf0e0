/**
 * The CTE `relax`, for a statement whose operations (`op`) have a `relaxed` column: when every
 * operation is relaxed, the statement's commit does not wait for its WAL to reach the disk.
 * An operation is relaxed when nothing outside Postgres acts on its commit before a later
 * synchronous commit of the same response: a model call claimed to run next, or the record of
 * a response whose client hears nothing before the response ends. Postgres flushes WAL in
 * order, so that later commit makes this one durable too: a tool call is claimed, a response
 * ends, an event is logged, each in a synchronous commit, before the tool runs or a client
 * hears of it.
 *
 * Should Postgres itself crash within the WAL writer's delay (200 ms by default), it loses the
 * relaxed commits since its last flush, as though they had not been made yet: a model call is
 * made again; a tool whose outcome was in one runs again with the same Idempotency-Key, as
 * after a worker's crash; a foreground request whose response was lost is told so
 * (TerminalWaits). A worker's crash loses nothing: the commit is Postgres's. One at a time,
 * a flush costs about half a millisecond here (docs/performance.md, "Relaxed commits").
 *
 * `set_config` with `is_local` sets the statement's own transaction, whose commit reads it;
 * otherwise the server's setting (`on`, or a replica's `remote_apply`) is left alone. A CTE
 * that nothing reads is not run: the statement must read `relax` (RELAXED_COLUMN).
 */
export const RELAXED_COMMIT = `relax AS (
       SELECT set_config('synchronous_commit', 'off', true) FROM op
       HAVING bool_and(coalesce(op.relaxed, false)))`;

/** A result column that reads `relax`, so that it runs. */
export const RELAXED_COLUMN = 'EXISTS (SELECT 1 FROM relax) AS relaxed';
