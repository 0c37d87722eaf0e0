import { LOG_DUE, RECORD_COLUMNS } from './responses.repository';
import { statement } from './sql';
import { usageSumSql } from './usage-sql';

// The statements of the engine's hot path (StepsRepository). Each is one round trip; the
// comments say what makes each one safe under concurrency.

const STEP_COLUMNS = `id, round, index, kind::text AS kind, status::text AS status,
  call_id AS "callId", name, arguments, result, error, usage`;

/** A scope's steps as a JSON array of StepRecords. */
const STEPS_OF_SCOPE = (scopeId: string): string =>
  `coalesce((SELECT json_agg(json_build_object(
       'id', id, 'round', round, 'index', index, 'kind', kind, 'status', status,
       'callId', call_id, 'name', name, 'arguments', arguments,
       'result', result, 'error', error, 'usage', usage))
       FROM steps WHERE scope_id = ${scopeId}), '[]'::json)`;

/**
 * Recording a round: locks the response row, so concurrent scopes of one tree spend the
 * budget one at a time (FOR UPDATE re-reads the counters as committed by whoever held the
 * lock before); inserts the steps if they fit; spends the counters; sets the scope's open
 * steps; moves the response to in_progress. Parameters, through `p`: 1 response, 2 scope,
 * 3 round, 4 previous step, 5 steps count, 6 maxSteps, 7 maxToolCalls, 8 tool calls,
 * 9 steps JSON, 10 claiming worker, 11 lease ms.
 */
function appendCtes(p: (n: number) => string, precondition: string): string {
  return `lock AS (
       SELECT step_count, tool_call_count FROM responses
        WHERE id = ${p(1)} AND status IN ('queued', 'in_progress') AND ${precondition}
          FOR UPDATE),
     fits AS (
       SELECT 1 FROM lock
        WHERE lock.step_count + ${p(5)} <= ${p(6)}
          AND (${p(7)}::int IS NULL OR lock.tool_call_count + ${p(8)} <= ${p(7)})),
     ins AS (
       INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, call_id, name,
                          arguments, error, prev_step_id, completed_at, attempt, lease_owner,
                          executed_by, lease_expires_at, started_at, dispatched_at)
       SELECT x.id, ${p(1)}, ${p(2)}, ${p(3)}, x.index, x.kind::step_kind, x.status::step_status,
              x.call_id, x.name, x.arguments, x.error, ${p(4)},
              CASE WHEN x.status = 'failed' THEN now() END,
              CASE WHEN x.status = 'running' THEN 1 ELSE 0 END,
              CASE WHEN x.status = 'running' THEN ${p(10)} END,
              CASE WHEN x.status = 'running' THEN ${p(10)} END,
              CASE WHEN x.status = 'running' THEN now() + ${p(11)} * interval '1 millisecond' END,
              CASE WHEN x.status = 'running' THEN now() END,
              CASE WHEN x.status = 'running' THEN now() END
         FROM json_to_recordset(${p(9)}::json) AS x(id text, index int, kind text, status text,
                                                  call_id text, name text, arguments text,
                                                  error jsonb)
        WHERE EXISTS (SELECT 1 FROM fits)
       ON CONFLICT (scope_id, round, index) DO NOTHING
       RETURNING ${STEP_COLUMNS}),
     counted AS (
       UPDATE responses
          SET step_count = step_count + (SELECT count(*) FROM ins),
              tool_call_count = tool_call_count
                + (SELECT count(*) FROM ins WHERE kind <> 'model_call' AND status <> 'failed'),
              status = 'in_progress', started_at = coalesce(started_at, now())
        WHERE id = ${p(1)} AND EXISTS (SELECT 1 FROM ins)),
     opened AS (
       UPDATE scopes SET open_steps = (SELECT count(*) FROM ins WHERE status <> 'failed')
        WHERE id = ${p(2)} AND EXISTS (SELECT 1 FROM ins))`;
}

const APPEND_RESULT = `SELECT (SELECT count(*)::int FROM lock) AS live,
       (SELECT count(*)::int FROM fits) AS fits,
       coalesce((SELECT json_agg(ins ORDER BY index) FROM ins), '[]'::json) AS steps`;

/**
 * A step's outcome, written only by the attempt that holds the step (the fence): $1 status,
 * $2 result, $3 error, $4 usage, $5 step, $6 attempt. The CTE `done` has its id if written.
 */
const FINISH_FENCED = `done AS (
       UPDATE steps
          SET status = $1::step_status, result = $2::jsonb, error = $3::jsonb,
              usage = $4::jsonb, completed_at = now(), lease_owner = NULL,
              lease_expires_at = NULL
        WHERE id = $5 AND status = 'running' AND attempt = $6
       RETURNING id)`;

export const STEPS_SQL = {
  context: statement(
    'scope-context',
    `SELECT s.id, s.response_id, s.parent_step_id, s.depth, s.model, s.instructions, s.input,
            s.tools, r.request, r.deadline_at
       FROM scopes s JOIN responses r ON r.id = s.response_id
      WHERE s.id = $1`,
  ),
  // A scope not cached yet: its fixed data and its state in one round trip.
  contextAndState: statement(
    'scope-context-and-state',
    `SELECT s.id, s.response_id, s.parent_step_id, s.depth, s.model, s.instructions, s.input,
            s.tools, r.request, r.deadline_at, r.status::text AS status, r.step_count,
            r.tool_call_count, ${STEPS_OF_SCOPE('s.id')} AS steps
       FROM scopes s JOIN responses r ON r.id = s.response_id
      WHERE s.id = $1`,
  ),
  state: statement(
    'scope-state',
    `SELECT r.status::text AS status, r.step_count, r.tool_call_count,
            ${STEPS_OF_SCOPE('$1')} AS steps
       FROM responses r WHERE r.id = $2`,
  ),
  append: statement('append-round', `WITH ${appendCtes((n) => `$${n}`, 'true')} ${APPEND_RESULT}`),
  // A new scope's first round, recorded without reading the scope first (an empty scope's
  // decision needs nothing from it), returning the scope's fixed data with it. Nothing is
  // recorded when the scope has steps already (a job run twice): the caller decides again.
  appendFirst: statement(
    'append-first-round',
    `WITH ${appendCtes((n) => `$${n}`, 'NOT EXISTS (SELECT 1 FROM steps WHERE scope_id = $2)')}
     ${APPEND_RESULT},
     (SELECT row_to_json(c) FROM (
        SELECT s.id, s.response_id, s.parent_step_id, s.depth, s.model, s.instructions,
               s.input, s.tools, r.request, r.deadline_at
          FROM scopes s JOIN responses r ON r.id = s.response_id WHERE s.id = $2) c) AS context`,
  ),
  // A step's outcome and the round it leads to, in one statement. The step was its round's
  // only one, so the scope's open-step counter is simply set for the new round; a round that
  // does not fit leaves the outcome recorded and the counter stale, and the caller decides
  // again on fresh state.
  finishAndAppend: statement(
    'finish-and-append',
    `WITH ${FINISH_FENCED},
     ${appendCtes((n) => `$${n + 6}`, 'EXISTS (SELECT 1 FROM done)')}
     ${APPEND_RESULT}, (SELECT count(*)::int FROM done) AS recorded`,
  ),
  // The last step of the top scope and the response's end, in one statement. The usage sum
  // reads the statement's snapshot, which has this step as it was before: its usage is
  // added from the parameter instead.
  finishAndEnd: statement(
    'finish-and-end',
    `WITH ${FINISH_FENCED},
     used AS (
       SELECT usage FROM steps WHERE response_id = $7 AND id <> $5 AND usage IS NOT NULL
       UNION ALL SELECT $4::jsonb WHERE $4::jsonb IS NOT NULL),
     ended AS (
       UPDATE responses r
          SET status = $8::response_status, output = $9::jsonb, error = $10::jsonb,
              incomplete_details = $11::jsonb, completed_at = now(), lease_owner = NULL,
              lease_expires_at = ${LOG_DUE}, usage = ${usageSumSql('used')}
        WHERE r.id = $7 AND r.status IN ('queued', 'in_progress') AND EXISTS (SELECT 1 FROM done)
       RETURNING ${RECORD_COLUMNS})
     SELECT (SELECT count(*)::int FROM done) AS recorded,
            (SELECT row_to_json(ended) FROM ended) AS record`,
  ),
  claim: statement(
    'claim-step',
    `UPDATE steps
        SET status = 'running', attempt = attempt + 1, lease_owner = $2, executed_by = $2,
            lease_expires_at = now() + $3 * interval '1 millisecond',
            started_at = coalesce(started_at, now())
      WHERE id = $1
        AND (status = 'pending' OR (status = 'running' AND lease_expires_at < now()))
        AND EXISTS (SELECT 1 FROM responses r
                     WHERE r.id = steps.response_id AND r.status IN ('queued', 'in_progress'))
     RETURNING ${STEP_COLUMNS}, attempt, scope_id, response_id`,
  ),
  // The scope row's counter is decremented under its row lock: of siblings finishing at the
  // same instant, exactly one brings it to 0.
  // When the round is complete, the scope's steps come along for the next decision. They are
  // read from the statement's snapshot: this step shows as it was before the update, and a
  // sibling that finished while we waited for the scope row lock may too (the caller checks).
  finish: statement(
    'finish-step',
    `WITH done AS (
       UPDATE steps
          SET status = $3::step_status, result = $4::jsonb, error = $5::jsonb,
              usage = $6::jsonb, completed_at = now(), lease_owner = NULL,
              lease_expires_at = NULL
        WHERE id = $1 AND status = 'running' AND ($2::int IS NULL OR attempt = $2)
       RETURNING scope_id, response_id),
     opened AS (
       UPDATE scopes SET open_steps = open_steps - 1
        WHERE id = (SELECT scope_id FROM done) RETURNING open_steps)
     SELECT d.scope_id, o.open_steps AS open, r.status::text AS status, r.step_count,
            r.tool_call_count,
            CASE WHEN o.open_steps = 0 THEN ${STEPS_OF_SCOPE('d.scope_id')} END AS steps
       FROM done d JOIN opened o ON true JOIN responses r ON r.id = d.response_id`,
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
  markDispatched: statement(
    'mark-dispatched',
    `UPDATE steps SET dispatched_at = now() WHERE id = ANY($1::text[])`,
  ),
  openChild: statement(
    'open-child-scope',
    `WITH scope AS (
       INSERT INTO scopes (id, response_id, parent_step_id, depth, model, instructions, input,
                           tools)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)
       ON CONFLICT (id) DO NOTHING)
     -- The agent step now waits for its scope, which recovery watches instead: no lease.
     UPDATE steps SET lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $3 AND status = 'running'`,
  ),
  parentOf: statement(
    'parent-of-scope',
    `SELECT s.id AS step_id, s.scope_id FROM scopes c JOIN steps s ON s.id = c.parent_step_id
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
       UPDATE steps SET usage = $3::jsonb
        WHERE id = $1 AND attempt = $2 AND usage IS NULL RETURNING response_id),
     used AS (
       SELECT usage FROM steps WHERE response_id = $4 AND id <> $1 AND usage IS NOT NULL
       UNION ALL SELECT $3::jsonb)
     UPDATE responses SET usage = ${usageSumSql('used')}
      WHERE id = $4 AND status = 'cancelled' AND EXISTS (SELECT 1 FROM s)`,
  ),
  cancelOpen: statement(
    'cancel-open-steps',
    `UPDATE steps SET status = 'cancelled', completed_at = now(), lease_owner = NULL,
            lease_expires_at = NULL
      WHERE response_id = $1 AND status IN ('pending', 'running')`,
  ),
};
