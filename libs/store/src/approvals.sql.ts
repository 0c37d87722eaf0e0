import { statement } from './sql';
import { liveResponse } from './live-responses';

// Statements of human approvals (ApprovalsRepository).

/** Steps of response $1 waiting for approval. */
const AWAITING = `SELECT s.id, s.scope_id, s.arguments, s.approval, s.created_at, s.round, s.index
                    FROM steps s WHERE s.response_id = $1 AND s.status = 'awaiting_approval'`;

/**
 * Whether nothing in the tree of response $1 can progress, and some call waits for approval:
 * no model or tool step is pending or running, no agent step runs without an open scope of
 * its own (its scope just ended, or has not opened yet), and no open scope is between rounds
 * (its round complete, its next decision not yet recorded). Read in one snapshot, after the
 * caller's own write committed: of the writers that make the tree stuck, the last one to
 * look sees it.
 */
const STUCK = `NOT EXISTS (
       SELECT 1 FROM steps s
        WHERE s.response_id = $1 AND s.status IN ('pending', 'running')
          AND (s.kind <> 'agent_call' OR NOT EXISTS (
                SELECT 1 FROM scopes c WHERE c.parent_step_id = s.id AND c.status = 'pending')))
   AND NOT EXISTS (
       SELECT 1 FROM scopes c WHERE c.response_id = $1 AND c.status = 'pending' AND c.open_steps = 0)
   AND EXISTS (SELECT 1 FROM awaiting)`;

/** The decision an expired request records: a refusal nobody made. */
const EXPIRED_DECISION = `jsonb_build_object('approve', false, 'reason', NULL, 'decided_by', NULL,
  'decided_at', to_jsonb(now()), 'response_id', s.response_id, 'expired', true)`;

const EXPIRED = `s.status = 'awaiting_approval' AND (s.approval->>'expires_at')::timestamptz <= now()`;

export const APPROVALS_SQL = {
  // Requests that expired unanswered. In a live tree, the call ends failed with the refusal
  // $1 and stops holding its round open (the scopes whose round that completes come back, to
  // decide next); in a paused tree nobody adopted, the decision is recorded for the response
  // that adopts it. Each step's scope row is updated under its lock, like a finished step.
  expire: statement(
    'expire-approvals',
    `WITH expired AS (
       UPDATE steps s
          SET status = 'failed', error = $1::jsonb, completed_at = now(),
              approval = jsonb_set(s.approval, '{decision}', ${EXPIRED_DECISION})
         FROM responses r
        WHERE r.id = s.response_id AND ${liveResponse('r')} AND ${EXPIRED}
       RETURNING s.scope_id, s.response_id),
     per_scope AS (
       SELECT scope_id, response_id, count(*)::int AS n FROM expired GROUP BY scope_id, response_id),
     opened AS (
       UPDATE scopes sc SET open_steps = sc.open_steps - p.n
         FROM per_scope p WHERE sc.id = p.scope_id
       RETURNING sc.id, sc.response_id, sc.open_steps),
     counted AS (
       UPDATE responses r SET awaiting_approvals = r.awaiting_approvals - x.n
         FROM (SELECT response_id, sum(n)::int AS n FROM per_scope GROUP BY response_id) x
        WHERE r.id = x.response_id),
     recorded AS (
       UPDATE steps s
          SET approval = jsonb_set(s.approval, '{decision}', ${EXPIRED_DECISION})
         FROM responses r
        WHERE r.id = s.response_id AND r.status = 'completed' AND r.adopted_by IS NULL
          AND ${EXPIRED} AND s.approval->'decision' = 'null'::jsonb
       RETURNING s.id)
     SELECT coalesce((SELECT json_agg(json_build_object('scopeId', id, 'responseId', response_id))
                        FROM opened WHERE open_steps = 0), '[]'::json) AS scopes,
            (SELECT count(*) FROM expired)::int AS expired,
            (SELECT count(*) FROM recorded)::int AS recorded`,
  ),
  // The response's waiting calls if the tree is stuck on them (else none), each with the agent
  // calls from the top scope down to the scope that made it.
  paused: statement(
    'paused-tree',
    `WITH RECURSIVE awaiting AS (${AWAITING}),
     path (step_id, scope_id, depth, name, call_id) AS (
       SELECT a.id, a.scope_id, 0, NULL::text, NULL::text FROM awaiting a
       UNION ALL
       SELECT p.step_id, ps.scope_id, p.depth + 1, ps.name, ps.call_id
         FROM path p JOIN scopes c ON c.id = p.scope_id
              JOIN steps ps ON ps.response_id = c.response_id AND ps.id = c.parent_step_id)
     SELECT (${STUCK}) AS stuck,
            coalesce((SELECT json_agg(json_build_object(
                'approval', a.approval, 'arguments', a.arguments,
                'agentPath', coalesce((SELECT json_agg(json_build_object(
                                          'name', p.name, 'call_id', p.call_id)
                                        ORDER BY p.depth DESC)
                                         FROM path p WHERE p.step_id = a.id AND p.depth > 0),
                                      '[]'::json))
              ORDER BY (SELECT max(p.depth) FROM path p WHERE p.step_id = a.id), a.created_at,
                       a.round, a.index)
              FROM awaiting a), '[]'::json) AS awaiting`,
  ),
};
