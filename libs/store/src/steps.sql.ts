import { afterEndCtes, ENDED_COLUMNS } from './response-end.sql';
import { LOG_DUE, recordColumns } from './responses.repository';
import { setOutput } from './stored-output.sql';
import { RELAXED_COLUMN, RELAXED_COMMIT } from './relaxed-commit.sql';
import { batchStatement, statement, type BatchStatement } from './sql';
import { leaseHeldBy } from './step-lease';
import { setUsage, setUsageSum, usageColumnsOf, usageValues } from './usage-sql';

// The statements of the engine's hot path (StepsRepository). Each is one round trip; the
// comments say what makes each one safe under concurrency.

const STEP_COLUMNS = `id, round, index, kind::text AS kind, status::text AS status,
  call_id AS "callId", name, arguments, result, error`;

/**
 * A scope's steps as a JSON array of StepRecords, found through its response's (the steps'
 * index on response_id). With `written`, a relation of operations that finished steps in this
 * statement (step_id, outcome_status, result, error), their outcomes are put over the
 * rows, which the statement's snapshot shows as they were before.
 */
const STEPS_OF_SCOPE = (responseId: string, scopeId: string, written?: string): string => {
  // Aliases of their own (st, w): callers pass columns of theirs, such as s.id of a scope.
  const outcome = (column: string, own: string = column): string =>
    written ? `CASE WHEN w.step_id IS NULL THEN st.${column} ELSE w.${own} END` : `st.${column}`;
  return `coalesce((SELECT json_agg(json_build_object(
       'id', st.id, 'round', st.round, 'index', st.index, 'kind', st.kind,
       'status', ${outcome('status::text', 'outcome_status')},
       'callId', st.call_id, 'name', st.name, 'arguments', st.arguments,
       'result', ${outcome('result')}, 'error', ${outcome('error')}))
       FROM steps st ${written ? `LEFT JOIN ${written} w ON w.step_id = st.id` : ''}
      WHERE st.response_id = ${responseId} AND st.scope_id = ${scopeId}), '[]'::json)`;
};

/**
 * The statements that record rounds and outcomes are batch statements (see sql.ts): a batch
 * holds at most one operation per response, so an operation sees its response as if it ran
 * alone. An operation's fields: the round to record (response_id, scope_id, round, n = steps
 * in it, steps = the rows to insert, max_steps, max_tool_calls, tool_calls = calls it would
 * spend, owner and lease_ms of the steps recorded already claimed),
 * the outcome of the step before it (step_id, attempt, outcome_status, result, error, usage;
 * with `more`, the outcomes of its siblings too, as an array of objects with those keys),
 * and how the response ends (end_status, output, stored_output as compactOutput made it,
 * end_error, incomplete_details). `taker`: the worker that ran the step before claiming it
 * (a new response's first model call, see FINISH_FENCED). With the
 * concurrency limits (per_scope, per_response), a round recorded unclaimed is recorded
 * dispatched too when it surely fits them (see appendCtes). `relaxed`: its commit need not
 * wait for the disk (relaxed-commit.sql.ts).
 */
const OP_COLUMNS = `response_id text, scope_id text, round int, n int,
  steps json, max_steps int, max_tool_calls int, tool_calls int, owner text, lease_ms int,
  step_id text, attempt int, outcome_status text, result jsonb, error jsonb, usage jsonb,
  end_status text, output jsonb, stored_output jsonb, end_error jsonb, incomplete_details jsonb,
  per_scope int, per_response int, more json, relaxed boolean, taker text`;

/** A step to claim: by whom, for how long. */
const CLAIM_COLUMNS = `response_id text, step_id text, owner text, lease_ms int`;

/** A step's outcome, fenced by attempt unless null (agent steps, which hold no lease). */
const FINISH_COLUMNS = `response_id text, step_id text, attempt int, outcome_status text,
  result jsonb, error jsonb, usage jsonb`;

const roundStatement = (name: string, text: (ops: string) => string): BatchStatement =>
  batchStatement(name, OP_COLUMNS, text);

/**
 * Each operation's step outcome, written only by the attempt that holds the step (the
 * fence). The CTE `done` has the numbers of the operations whose outcome was written.
 *
 * With `taker`, the step was run unclaimed: a new response's first model call, recorded
 * pending with the response, whose job carried its scope (apps/worker/src/first-take.ts). Its
 * outcome is written only if the step is still pending at the attempt before this one: no
 * claim took it meanwhile. Claiming and finishing it are then this one update, and the step
 * shows what a claim would have left: the attempt, who ran it, when it started (about now: it
 * ran for less than the worker waits before claiming).
 */
const FINISH_FENCED = `done AS (
       UPDATE steps s
          SET status = op.outcome_status::step_status, result = op.result, error = op.error,
              ${setUsage('op.usage', { estimated: true })}, completed_at = now(),
              leased = NULL, lease_expires_at = NULL,
              attempt = op.attempt, executed_by = coalesce(op.taker, s.executed_by),
              started_at = coalesce(s.started_at, now())
         FROM op
        WHERE s.response_id = op.response_id AND s.id = op.step_id
          AND CASE WHEN op.taker IS NULL THEN s.status = 'running' AND s.attempt = op.attempt
                   ELSE s.status = 'pending' AND s.attempt = op.attempt - 1 END
       RETURNING op.o)`;

/**
 * The outcomes of a round's siblings, run together: op.step_id's and op.more's (an array of
 * objects with the outcome keys), written all or none. Their rows are locked first, and unless
 * every one still runs under the attempt that ran it, none is written. The CTE `outcome` has
 * every outcome of an operation, `done` the numbers of the operations whose outcomes were
 * written (once per outcome).
 */
const FINISH_ROUND_FENCED = `outcome AS (
       SELECT op.o, op.response_id, op.step_id, op.attempt, op.outcome_status, op.result,
              op.error, op.usage
         FROM op
       UNION ALL
       -- ratchet_each, not json_to_recordset: planned as a few rows, not a hundred, so the
       -- steps are found by their key rather than by a scan of every running one.
       SELECT op.o, op.response_id, x.*
         FROM op CROSS JOIN LATERAL ratchet_each(op.more) AS e
              CROSS JOIN LATERAL json_to_record(e) AS x(
                step_id text, attempt int, outcome_status text, result jsonb, error jsonb,
                usage jsonb)),
     held AS (
       SELECT outcome.o
         FROM steps s
              JOIN outcome ON s.response_id = outcome.response_id AND s.id = outcome.step_id
        WHERE s.status = 'running' AND s.attempt = outcome.attempt
        ORDER BY s.id
          FOR UPDATE OF s),
     whole AS (
       SELECT op.o FROM op
        WHERE (SELECT count(*) FROM held WHERE held.o = op.o) = 1 + json_array_length(op.more)),
     done AS (
       UPDATE steps s
          SET status = outcome.outcome_status::step_status, result = outcome.result,
              error = outcome.error, ${setUsage('outcome.usage', { estimated: true })},
              completed_at = now(),
              leased = NULL, lease_expires_at = NULL
         FROM outcome
        WHERE s.response_id = outcome.response_id AND s.id = outcome.step_id
          AND s.status = 'running' AND s.attempt = outcome.attempt
          AND outcome.o IN (SELECT o FROM whole)
       RETURNING outcome.o)`;

/**
 * After an outcome that leaves its round open: whether a step of the response waits for a
 * slot (pending, held back by a concurrency limit), from the statement's snapshot, or null
 * when that snapshot cannot tell. A step waits only if it was recorded so; recording needs a
 * scope whose round is complete. This outcome's scope has an open round, so while the tree is
 * that one scope (no agent step of the response still going: no other scope that could be
 * recording at this instant), every step that could wait was recorded before this step ran
 * and is in the snapshot. A tree with scopes still going gets null: the caller looks again
 * once the outcome is committed (StepsRepository.hasWaitingSteps), as a recorder elsewhere in
 * the tree may have seen this step still running and left a step waiting for it.
 */
const WAITING_AFTER_OUTCOME = (responseId: string): string =>
  `(SELECT CASE WHEN bool_or(w.kind = 'agent_call'
                             AND w.status NOT IN ('completed', 'failed', 'cancelled')) THEN NULL
                ELSE coalesce(bool_or(w.status = 'pending' AND w.dispatched_at IS NULL), false) END
      FROM steps w WHERE w.response_id = ${responseId})`;

/**
 * For an operation run by a `taker` (see FINISH_FENCED): whether its step is there at all. A
 * new response's first model call may finish before the statement creating it commits: its
 * job is queued while that statement runs.
 */
const TAKER_FOUND = `CASE WHEN op.taker IS NOT NULL THEN EXISTS (
         SELECT 1 FROM steps f WHERE f.response_id = op.response_id AND f.id = op.step_id) END
       AS found`;

/** A step `s` whose outcome the operation does not record (with FINISH_ROUND_FENCED). */
const NOT_IN_ROUND = `s.id NOT IN (SELECT step_id FROM outcome WHERE outcome.o = op.o)`;

/**
 * Recording rounds: spends each response's counters and moves it to in_progress in one
 * UPDATE (`spent`) whose conditions are the round's: `precondition` (which may refer to the
 * operation as `op`), a live response, a budget the round fits, and no such round recorded
 * already as the statement's snapshot shows. Concurrent scopes of one tree spend the budget
 * one at a time: an UPDATE that finds the row changed by a transaction that committed
 * meanwhile checks its conditions again on the row as that one left it. Then it inserts the
 * round's steps and sets the scope's open steps. No row lock of its own, so no WAL record for
 * one: the update is the lock. Operations go in the order of their responses' ids, so batches
 * running at once meet the rows in the same order (should they deadlock all the same,
 * Postgres aborts one and its operations run again alone: Batcher).
 *
 * A response not spent on is told apart from the statement's snapshot (`seen`): ended, or
 * over its budget (counters only grow, so what did not fit then does not fit now). One that
 * the snapshot shows live and within budget changed meanwhile: reported as its round
 * recorded already, the caller decides again on fresh state.
 *
 * A round given the concurrency limits (op.per_scope, op.per_response) is recorded dispatched
 * (saving the dispatch transaction) when it surely fits them: every open step of the response
 * counts as in flight, pending or not, and the response's step counter before this round, as
 * the update found it, must equal its steps in the statement's snapshot, so no step recorded
 * by a concurrent statement is missed. A step that ended after the snapshot only makes the
 * count higher (the step whose outcome the same statement records is not counted). Its steps
 * marked 'running' are recorded claimed by op.owner; should the round not surely fit, they
 * are recorded pending like the rest, and the caller dispatches as before
 * (StepsRepository.dispatch). A round given no limits has its 'running' step recorded claimed
 * outright: the one step of its round, it takes the slot of the step that led to it.
 *
 * Last, `relax`: whether the commit waits for the disk (relaxed-commit.sql.ts).
 */
function appendCtes(
  precondition: string,
  notRecordedHere = 's.id IS DISTINCT FROM op.step_id',
): string {
  const inFlight = `s.status IN ('pending', 'running') AND s.kind <> 'agent_call' AND ${notRecordedHere}`;
  return `spent AS (
       UPDATE responses r
          SET step_count = r.step_count + op.n,
              tool_call_count = r.tool_call_count + op.tool_calls,
              awaiting_approvals = r.awaiting_approvals
                + (SELECT count(*) FROM json_to_recordset(op.steps) AS x(status text)
                    WHERE x.status = 'awaiting_approval'),
              status = 'in_progress', started_at = coalesce(r.started_at, now())
         FROM (SELECT * FROM op ORDER BY op.response_id) op
        WHERE r.id = op.response_id AND ${precondition}
          AND r.status IN ('queued', 'in_progress')
          AND r.step_count + op.n <= op.max_steps
          AND (op.max_tool_calls IS NULL OR r.tool_call_count + op.tool_calls <= op.max_tool_calls)
          -- Not a round recorded already, as this snapshot shows. A round that a concurrent
          -- statement recorded after this snapshot has the same ids (stepId): the primary key
          -- refuses them, the statement fails, and it runs again, to find that round here
          -- (StepsRepository.onceMore).
          AND NOT EXISTS (SELECT 1 FROM steps o
                           WHERE o.response_id = op.response_id AND o.scope_id = op.scope_id
                             AND o.round = op.round)
       RETURNING op.o, r.step_count - op.n AS steps_before),
     seen AS (
       SELECT op.o, r.status IN ('queued', 'in_progress') AS live,
              r.step_count + op.n <= op.max_steps
                AND (op.max_tool_calls IS NULL
                     OR r.tool_call_count + op.tool_calls <= op.max_tool_calls) AS fits
         FROM responses r JOIN op ON op.response_id = r.id
        WHERE ${precondition}),
     lock AS (
       SELECT o FROM spent UNION SELECT o FROM seen WHERE live),
     fits AS (
       SELECT o FROM spent UNION SELECT o FROM seen WHERE live AND fits),
     dispatchable AS (
       SELECT op.o
         FROM spent JOIN op USING (o),
              LATERAL (SELECT count(*) AS n FROM json_to_recordset(op.steps) AS x(kind text, status text)
                        WHERE x.status IN ('pending', 'running') AND x.kind <> 'agent_call') new,
              -- The response's steps, read once for all three counts.
              LATERAL (SELECT count(*) AS every,
                              count(*) FILTER (WHERE ${inFlight}) AS total,
                              count(*) FILTER (WHERE ${inFlight} AND s.scope_id = op.scope_id) AS here
                         FROM steps s
                        WHERE s.response_id = op.response_id) open
        WHERE op.per_scope IS NOT NULL AND op.per_response IS NOT NULL
          AND spent.steps_before = open.every
          AND open.total + new.n <= op.per_response AND open.here + new.n <= op.per_scope),
     ins AS (
       INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, call_id, name,
                          arguments, error, approval, completed_at, attempt,
                          leased, executed_by, lease_expires_at, started_at, dispatched_at)
       SELECT x.id, op.response_id, op.scope_id, op.round, x.index, x.kind::step_kind,
              e.status::step_status, x.call_id, x.name, x.arguments, x.error, x.approval,
              CASE WHEN e.status = 'failed' THEN now() END,
              CASE WHEN e.status = 'running' THEN 1 ELSE 0 END,
              CASE WHEN e.status = 'running' THEN true END,
              CASE WHEN e.status = 'running' THEN op.owner END,
              CASE WHEN e.status = 'running' THEN now() + op.lease_ms * interval '1 millisecond' END,
              CASE WHEN e.status = 'running' THEN now() END,
              CASE WHEN e.status = 'running' OR (e.status = 'pending' AND d.o IS NOT NULL)
                   THEN now() END
         FROM op JOIN spent USING (o)
              LEFT JOIN dispatchable d USING (o)
              CROSS JOIN LATERAL json_to_recordset(op.steps) AS x(
                id text, index int, kind text, status text, call_id text, name text,
                arguments text, error jsonb, approval jsonb)
              -- A claim that needs the limits holds only if the round surely fits them.
              CROSS JOIN LATERAL (SELECT CASE
                WHEN x.status = 'running' AND op.per_scope IS NOT NULL AND d.o IS NULL THEN 'pending'
                ELSE x.status END AS status) e
       RETURNING scope_id, response_id, ${STEP_COLUMNS}),
     opened AS (
       UPDATE scopes sc
          SET open_steps = (SELECT count(*) FROM ins
                             WHERE ins.scope_id = op.scope_id AND status <> 'failed')
         FROM op
        WHERE sc.id = op.scope_id AND EXISTS (SELECT 1 FROM ins WHERE ins.scope_id = op.scope_id)),
     ${RELAXED_COMMIT}`;
}

/**
 * A response's end once its last steps' outcomes are recorded (`done`), with what an end
 * writes besides (response-end.sql.ts) and the result per operation; `used` is the relation
 * of the tree's usages to sum.
 */
function endCtes(used: string): string {
  return `ended AS (
       UPDATE responses r
          SET status = op.end_status::response_status,
              ${setOutput('op.output', 'op.stored_output')},
              error = op.end_error, incomplete_details = op.incomplete_details,
              completed_at = now(), lease_owner = NULL, lease_expires_at = ${LOG_DUE},
              ${setUsageSum(used)}
         FROM op
        WHERE r.id = op.response_id AND r.status IN ('queued', 'in_progress')
          AND op.o IN (SELECT o FROM done)
       RETURNING op.o, ${recordColumns('op.output')}, ${ENDED_COLUMNS}),
     ${afterEndCtes('ended')}
     SELECT op.o, op.o IN (SELECT o FROM done) AS recorded,
            (SELECT row_to_json(ended) FROM ended WHERE ended.o = op.o) AS record, ${TAKER_FOUND}
       FROM op`;
}

/** Per operation: whether its response was live, whether its round fit, the steps recorded. */
const APPEND_RESULT = `SELECT op.o, ${RELAXED_COLUMN},
       EXISTS (SELECT 1 FROM lock WHERE lock.o = op.o) AS live,
       EXISTS (SELECT 1 FROM fits WHERE fits.o = op.o) AS fits,
       EXISTS (SELECT 1 FROM dispatchable d WHERE d.o = op.o) AS dispatched,
       coalesce((SELECT json_agg(to_jsonb(ins) - 'scope_id' - 'response_id' ORDER BY ins.index)
                   FROM ins WHERE ins.scope_id = op.scope_id), '[]'::json) AS steps`;

export const STEPS_SQL = {
  context: statement(
    'scope-context',
    `SELECT s.id, s.response_id, s.parent_step_id, s.depth, s.model, s.instructions, s.input,
            s.tools, s.shown_items, r.request, r.deadline_at
       FROM scopes s JOIN responses r ON r.id = s.response_id
      WHERE s.id = $1`,
  ),
  // A scope not cached yet: its fixed data and its state in one round trip.
  contextAndState: statement(
    'scope-context-and-state',
    `SELECT s.id, s.response_id, s.parent_step_id, s.depth, s.model, s.instructions, s.input,
            s.tools, s.shown_items, r.request, r.deadline_at, r.status::text AS status, r.step_count,
            r.tool_call_count, ${STEPS_OF_SCOPE('s.response_id', 's.id')} AS steps
       FROM scopes s JOIN responses r ON r.id = s.response_id
      WHERE s.id = $1`,
  ),
  state: statement(
    'scope-state',
    `SELECT r.status::text AS status, r.step_count, r.tool_call_count,
            ${STEPS_OF_SCOPE('$2', '$1')} AS steps
       FROM responses r WHERE r.id = $2`,
  ),
  append: roundStatement(
    'append-round',
    (ops) => `WITH ${ops}, ${appendCtes('true')} ${APPEND_RESULT} FROM op`,
  ),
  // New scopes' first rounds, recorded without reading the scopes first (an empty scope's
  // decision needs nothing from it), returning each scope's fixed data with it. Nothing is
  // recorded for a scope that has steps already (a job run twice): the caller decides again.
  appendFirst: roundStatement(
    'append-first-round',
    (ops) => `WITH ${ops},
     ${appendCtes(
       'NOT EXISTS (SELECT 1 FROM steps WHERE response_id = op.response_id AND scope_id = op.scope_id)',
     )}
     ${APPEND_RESULT},
     (SELECT row_to_json(c) FROM (
        SELECT s.id, s.response_id, s.parent_step_id, s.depth, s.model, s.instructions,
               s.input, s.tools, s.shown_items, r.request, r.deadline_at
          FROM scopes s JOIN responses r ON r.id = s.response_id WHERE s.id = op.scope_id) c)
       AS context
     FROM op`,
  ),
  // A step's outcome and the round it leads to, in one statement. The step was its round's
  // only one, so the scope's open-step counter is simply set for the new round; a round that
  // does not fit leaves the outcome recorded and the counter stale, and the caller decides
  // again on fresh state.
  finishAndAppend: roundStatement(
    'finish-and-append',
    (ops) => `WITH ${ops}, ${FINISH_FENCED},
     ${appendCtes('op.o IN (SELECT o FROM done)')}
     ${APPEND_RESULT}, op.o IN (SELECT o FROM done) AS recorded, ${TAKER_FOUND}
     FROM op`,
  ),
  // The same for a round's siblings run together: their outcomes complete it.
  finishRoundAndAppend: roundStatement(
    'finish-round-and-append',
    (ops) => `WITH ${ops}, ${FINISH_ROUND_FENCED},
     ${appendCtes('op.o IN (SELECT o FROM done)', NOT_IN_ROUND)}
     ${APPEND_RESULT}, op.o IN (SELECT o FROM done) AS recorded
     FROM op`,
  ),
  // The last steps of top scopes and their responses' ends, in one statement, with what an
  // end writes besides (response-end.sql.ts). The usage sum reads the statement's snapshot,
  // which has the step as it was before: its usage is added from the operation instead.
  finishAndEnd: roundStatement(
    'finish-and-end',
    (ops) =>
      `WITH ${ops}, ${FINISH_FENCED}, ${endCtes(`(SELECT ${usageColumnsOf('s')} FROM steps s
                          WHERE s.response_id = op.response_id AND s.id <> op.step_id
                            AND s.input_tokens IS NOT NULL
                         UNION ALL SELECT ${usageValues('op.usage')}) used`)}`,
  ),
  // The same for a top scope's last round of siblings run together.
  finishRoundAndEnd: roundStatement(
    'finish-round-and-end',
    (ops) =>
      `WITH ${ops}, ${FINISH_ROUND_FENCED}, ${endCtes(`(SELECT ${usageColumnsOf('s')} FROM steps s
                          WHERE s.response_id = op.response_id AND s.input_tokens IS NOT NULL
                            AND ${NOT_IN_ROUND}
                         UNION ALL SELECT ${usageValues('outcome.usage')} FROM outcome
                          WHERE outcome.o = op.o) used`)}`,
  ),
  // Steps taken for execution, many at a time: pending steps, or running ones whose owner's
  // lease expired, of responses still going. The attempt is bumped, which fences out any
  // earlier owner's late result. A step claimed twice at once (a job queued twice) goes in
  // two batches; should they meet in a deadlock, Postgres aborts one and its operations run
  // again alone (Batcher).
  claim: batchStatement(
    'claim-steps',
    CLAIM_COLUMNS,
    (ops) => `WITH ${ops},
     claimed AS (
       UPDATE steps s
          SET status = 'running', attempt = s.attempt + 1, leased = true, executed_by = op.owner,
              lease_expires_at = now() + op.lease_ms * interval '1 millisecond',
              started_at = coalesce(s.started_at, now())
         FROM op
        WHERE s.response_id = op.response_id AND s.id = op.step_id
          AND (s.status = 'pending' OR (s.status = 'running' AND s.lease_expires_at < now()))
          AND EXISTS (SELECT 1 FROM responses r
                       WHERE r.id = s.response_id AND r.status IN ('queued', 'in_progress'))
       RETURNING op.o, s.id, s.round, s.index, s.kind::text AS kind, s.status::text AS status,
                 s.call_id AS "callId", s.name, s.arguments, s.result, s.error,
                 s.attempt, s.scope_id, s.response_id,
                 (SELECT deadline_at FROM responses r WHERE r.id = s.response_id)),
     -- A background response whose first model call was recorded with it (first-step.ts) is
     -- queued until that call is claimed or finished; any other is in_progress by now.
     started AS (
       UPDATE responses r SET status = 'in_progress', started_at = coalesce(r.started_at, now())
         FROM claimed c
        WHERE c.round = 0 AND r.id = c.response_id AND r.status = 'queued')
     SELECT op.o, (SELECT row_to_json(c) FROM claimed c WHERE c.o = op.o) AS claimed,
            -- Not claimed: whether there is such a step at all (a new response's first model
            -- call may be taken from the queue before the statement creating it commits).
            EXISTS (SELECT 1 FROM claimed c WHERE c.o = op.o)
              OR EXISTS (SELECT 1 FROM steps s
                          WHERE s.response_id = op.response_id AND s.id = op.step_id) AS found
       FROM op`,
  ),
  // Steps' outcomes, many at a time: of many responses, and siblings of one round together.
  // Each outcome is written if its step is still running (and, given an attempt, if that
  // attempt still owns it). Each scope's counter drops by the number of its steps this
  // statement finished, in one update that locks the row itself (no lock record of its own);
  // scopes go in id order, so batches running at once meet them in the same order (a deadlock
  // all the same aborts one, whose operations run again alone: Batcher). Of siblings finishing at the same instant, in one
  // statement or in several, exactly one brings the counter to 0: within a statement, each
  // operation's `open` counts the scope's later operations still to come (by number), so
  // only the last one reads the counter's final value.
  // When a round is complete, the scope's steps come along for the next decision, read from
  // the statement's snapshot with the outcomes this statement wrote put in. A sibling that
  // another statement finished while this one waited for the scope's row may still show
  // as running (the caller checks).
  // When it is not, `waiting` says whether a step of the response waits for the slot this
  // outcome frees (WAITING_AFTER_OUTCOME), or is null where only a look after the commit can
  // tell.
  finish: batchStatement(
    'finish-steps',
    FINISH_COLUMNS,
    (ops) => `WITH ${ops},
     done AS (
       UPDATE steps s
          SET status = op.outcome_status::step_status, result = op.result, error = op.error,
              ${setUsage('op.usage', { estimated: true })}, completed_at = now(),
              leased = NULL, lease_expires_at = NULL
         FROM op
        WHERE s.response_id = op.response_id AND s.id = op.step_id AND s.status = 'running'
          AND (op.attempt IS NULL OR s.attempt = op.attempt)
       RETURNING op.o, s.scope_id, s.response_id,
                 s.id AS step_id, op.outcome_status, op.result, op.error),
     opened AS (
       UPDATE scopes sc SET open_steps = sc.open_steps - d.n
         FROM (SELECT scope_id, count(*)::int AS n FROM done
                GROUP BY scope_id ORDER BY scope_id) d
        WHERE sc.id = d.scope_id
       RETURNING sc.id, sc.open_steps),
     counted AS (
       SELECT done.o, done.scope_id, done.response_id,
              opened.open_steps
                + count(*) OVER (PARTITION BY done.scope_id ORDER BY done.o DESC) - 1 AS open
         FROM done JOIN opened ON opened.id = done.scope_id)
     -- One row per outcome written, from counted alone: joining it back to op by number
     -- made the planner (which takes op for one row) compute counted again for every
     -- operation, quadratic in the batch's size. done carries the outcomes it wrote.
     SELECT d.o, d.scope_id, d.open::int AS open, r.status::text AS status, r.step_count,
            r.tool_call_count, r.awaiting_approvals,
            CASE WHEN d.open = 0 THEN ${STEPS_OF_SCOPE('d.response_id', 'd.scope_id', 'done')} END AS steps,
            CASE WHEN d.open > 0 THEN ${WAITING_AFTER_OUTCOME('d.response_id')} END AS waiting
       FROM counted d JOIN responses r ON r.id = d.response_id`,
  ),
  // A step claimed with its round that its worker gives up before running it: pending again,
  // dispatched, as if it had never been claimed. Its attempt goes back too (only the owner
  // that claimed it at that attempt gives it up, and it never ran), so the worker that claims
  // it next runs it at the attempt it would have, and it counts as no retry.
  // Many at a time, as claims are: a busy worker may give up many siblings at once.
  unclaim: batchStatement(
    'unclaim-steps',
    `response_id text, step_id text, attempt int, owner text`,
    (ops) => `WITH ${ops},
     unclaimed AS (
       UPDATE steps s
          SET status = 'pending', attempt = s.attempt - 1, leased = NULL, executed_by = NULL,
              lease_expires_at = NULL, started_at = NULL,
              dispatched_at = now()
         FROM op
        WHERE s.response_id = op.response_id AND s.id = op.step_id AND s.attempt = op.attempt
          AND ${leaseHeldBy('s', 'op.owner')}
          AND s.status = 'running'
       RETURNING op.o)
     SELECT op.o, op.o IN (SELECT o FROM unclaimed) AS unclaimed FROM op`,
  ),
  lockResponse: statement('lock-response', `SELECT 1 FROM responses WHERE id = $1 FOR UPDATE`),
  openSteps: statement(
    'open-steps',
    `SELECT id, scope_id, kind::text AS kind,
            (status = 'running' OR dispatched_at IS NOT NULL) AS in_flight
       FROM steps
      WHERE response_id = $1 AND status IN ('pending', 'running')
      ORDER BY created_at, round, index`,
  ),
  // Whether pending steps of responses wait to be dispatched, many responses at a time.
  waiting: batchStatement(
    'waiting-steps',
    'response_id text',
    (ops) => `WITH ${ops}
     SELECT op.o, EXISTS (SELECT 1 FROM steps
                           WHERE response_id = op.response_id AND status = 'pending'
                             AND dispatched_at IS NULL) AS waiting
       FROM op`,
  ),
  markDispatched: statement(
    'mark-dispatched',
    `UPDATE steps SET dispatched_at = now() WHERE response_id = $1 AND id = ANY($2::text[])`,
  ),
  openChild: statement(
    'open-child-scope',
    `WITH owner AS (SELECT 1 FROM responses WHERE id = $2 FOR KEY SHARE),
     scope AS (
       -- Under a KEY SHARE lock of the response, as a foreign key would take it: a DELETE of
       -- the response waits for this transaction, and then deletes the scope with it
       -- (migration 20261205080000_rows_go_with_their_response); a response gone already
       -- gets no scope.
       INSERT INTO scopes (id, response_id, parent_step_id, depth, model, instructions, input,
                           tools)
       SELECT $1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb WHERE EXISTS (SELECT 1 FROM owner)
       ON CONFLICT (id) DO NOTHING)
     -- The agent step now waits for its scope, which recovery watches instead: no lease.
     UPDATE steps SET leased = NULL, lease_expires_at = NULL
      WHERE response_id = $2 AND id = $3 AND status = 'running'`,
  ),
  parentOf: statement(
    'parent-of-scope',
    `SELECT s.id AS step_id, s.scope_id
       FROM scopes c JOIN steps s ON s.response_id = c.response_id AND s.id = c.parent_step_id
      WHERE c.id = $1`,
  ),
  closeScope: statement(
    'close-scope',
    `UPDATE scopes SET status = $2::step_status, output = $3::jsonb, completed_at = now()
      WHERE id = $1`,
  ),
  // Usage of a call cut short, recorded even when the step was already ended by the cancel
  // that cut it; a cancelled response's usage is summed again to include it.
  cutShortUsage: statement(
    'cut-short-usage',
    `WITH s AS (
       UPDATE steps SET ${setUsage('$3::jsonb', { estimated: true })}
        WHERE response_id = $4 AND id = $1 AND attempt = $2 AND input_tokens IS NULL
        RETURNING response_id),
     used AS (
       SELECT ${usageColumnsOf('steps')} FROM steps
        WHERE response_id = $4 AND id <> $1 AND input_tokens IS NOT NULL
       UNION ALL SELECT ${usageValues('$3::jsonb')})
     UPDATE responses SET ${setUsageSum('used')}
      WHERE id = $4 AND status = 'cancelled' AND EXISTS (SELECT 1 FROM s)`,
  ),
  cancelOpen: statement(
    'cancel-open-steps',
    `UPDATE steps SET status = 'cancelled', completed_at = now(), leased = NULL,
            lease_expires_at = NULL
      WHERE response_id = $1 AND status IN ('pending', 'running')`,
  ),
};
