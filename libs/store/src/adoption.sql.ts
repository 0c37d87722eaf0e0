import { STORE_INPUT_ITEMS_WHOLE } from './input-items.sql';
import { outputOf } from './stored-output.sql';
import { statement } from './sql';
import { topScopeIdOf } from './scope-id';

// Statements of adopting a paused tree (AdoptionRepository). They run in one transaction
// with the adopting response's insert, under the lock of the response adopted.

/**
 * New ids for the adopting response $2: a copy of step X keeps the first 12 characters of X's
 * key, which the ids of its server calls' items carry (serverCallItemId), so the calls keep
 * the ids clients saw; md5($2:X) makes it unique.
 */
const COPY_KEY = (old: string): string => `left(substr(${old}, 6), 12) || md5($2 || ':' || ${old})`;
const STEP_COPY = (old: string): string => `'step_' || ${COPY_KEY(old)}`;
/** The scope an agent step's copy runs: its id derived from the copy's (childScopeId). */
const CHILD_SCOPE_COPY = (parentStep: string): string => `'scope_' || ${COPY_KEY(parentStep)}`;

export const ADOPTION_SQL = {
  // The response adopted, locked: whether it may be, and the conversation it continues. One
  // not stored is adopted only when its caller holds it ($3).
  lock: statement(
    'adoption-lock',
    `SELECT r.status::text AS status, r.adopted_by, ${outputOf('r')} AS output,
            coalesce(r.context, s.input) AS context
       FROM responses r JOIN scopes s ON s.id = ${topScopeIdOf('r.id')}
      WHERE r.id = $1 AND (r.store OR $3::boolean) AND ($2::text IS NULL OR r.owner_id = $2)
        FOR UPDATE OF r`,
  ),
  // Its calls that asked for approval, as they stand.
  candidates: statement(
    'adoption-candidates',
    `SELECT id AS "stepId", status::text AS status, approval FROM steps
      WHERE response_id = $1 AND approval IS NOT NULL`,
  ),
  topTools: statement(
    'adoption-top-tools',
    `SELECT tools FROM scopes WHERE id = ${topScopeIdOf('$1')}`,
  ),
  // Copies the open scopes of response $1 and their steps into response $2 (inserted just
  // before, its top scope empty), with the decisions $3 applied: an approved call pending, a
  // refused one failed with its refusal. The copies' usage stays with the response that paid
  // for it; the tree's counters carry over. Returns the scopes whose round the decisions
  // completed, which must decide next.
  copy: statement(
    'adoption-copy',
    `WITH dec AS (
       SELECT * FROM json_to_recordset($3::json)
                AS d(step_id text, approval jsonb, status text, error jsonb)),
     src AS (SELECT * FROM scopes WHERE response_id = $1 AND status = 'pending'),
     -- Its input items that the top scope's input holds, stored whole before the top scope is given the
     -- adopted tree's input (this statement reads the scope as it was).
     whole_items AS (${STORE_INPUT_ITEMS_WHOLE('$2')}),
     freed AS (
       SELECT s.scope_id, count(*)::int AS n
         FROM steps s JOIN dec ON s.response_id = $1 AND s.id = dec.step_id
        WHERE dec.status = 'failed' GROUP BY s.scope_id),
     children AS (
       INSERT INTO scopes (id, response_id, parent_step_id, depth, model, instructions, input,
                           tools, open_steps, status)
       SELECT ${CHILD_SCOPE_COPY('src.parent_step_id')}, $2, ${STEP_COPY('src.parent_step_id')},
              src.depth, src.model, src.instructions, src.input, src.tools,
              src.open_steps - coalesce((SELECT n FROM freed WHERE freed.scope_id = src.id), 0),
              'pending'
         FROM src WHERE src.parent_step_id IS NOT NULL
       RETURNING id, open_steps),
     top AS (
       UPDATE scopes t
          SET input = src.input, tools = $4::jsonb,
              shown_items = src.shown_items || coalesce(
                (SELECT jsonb_agg(x.item->>'id')
                   FROM responses pr,
                        jsonb_array_elements(coalesce(${outputOf('pr')}, '[]'::jsonb)) AS x(item)
                  WHERE pr.id = $1 AND x.item->>'id' IS NOT NULL), '[]'::jsonb),
              open_steps = src.open_steps
                - coalesce((SELECT n FROM freed WHERE freed.scope_id = src.id), 0)
         FROM src
        WHERE src.parent_step_id IS NULL AND t.id = ${topScopeIdOf('$2')}
       RETURNING t.id, t.open_steps),
     copied AS (
       INSERT INTO steps (id, response_id, scope_id, round, index, kind, status, call_id, name,
                          arguments, result, error, approval, adopted_from, attempt,
                          completed_at, started_at)
       SELECT ${STEP_COPY('s.id')}, $2,
              CASE WHEN src.parent_step_id IS NULL THEN ${topScopeIdOf('$2')}
                   ELSE ${CHILD_SCOPE_COPY('src.parent_step_id')} END,
              s.round, s.index, s.kind, coalesce(dec.status::step_status, s.status),
              s.call_id, s.name, s.arguments, s.result,
              CASE WHEN dec.status = 'failed' THEN dec.error ELSE s.error END,
              coalesce(dec.approval, s.approval), s.id, 0,
              CASE WHEN dec.status = 'failed' THEN now() ELSE s.completed_at END, s.started_at
         FROM steps s JOIN src ON src.id = s.scope_id AND s.response_id = $1
              LEFT JOIN dec ON dec.step_id = s.id
       RETURNING status),
     originals AS (
       UPDATE steps s SET approval = dec.approval
         FROM dec WHERE s.response_id = $1 AND s.id = dec.step_id),
     counted AS (
       UPDATE responses b
          SET step_count = a.step_count, tool_call_count = a.tool_call_count,
              awaiting_approvals = (SELECT count(*) FROM copied
                                     WHERE status = 'awaiting_approval'),
              context = $5::jsonb, status = 'in_progress', started_at = now()
         FROM responses a WHERE a.id = $1 AND b.id = $2),
     marked AS (UPDATE responses SET adopted_by = $2 WHERE id = $1)
     SELECT coalesce((SELECT json_agg(id) FROM (
              SELECT id FROM children WHERE open_steps = 0
              UNION ALL SELECT id FROM top WHERE open_steps = 0) z), '[]'::json) AS resume`,
  ),
};
