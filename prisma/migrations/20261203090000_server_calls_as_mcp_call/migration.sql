-- Calls ratchet runs itself (its http tools and agents) were stored in responses.output as
-- the model's function_call followed by a function_call_output. Clients took them for calls
-- of their own and ran them again; they are now one mcp_call item each, as OpenAI shows the
-- calls it runs (see README "Server-side calls"). This rewrites the outputs stored before:
-- each such call becomes the mcp_call item a response ending today would hold, its output
-- goes into the item, and calls the response ended before running show as never run. Event
-- logs keep the events they were streamed with.

-- The error a tool output carried ({"error": {...}} and nothing else), or null.
CREATE FUNCTION pg_temp.tool_error(output text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  parsed jsonb;
BEGIN
  parsed := output::jsonb;
  IF jsonb_typeof(parsed) = 'object' AND parsed ? 'error'
     AND (SELECT count(*) FROM jsonb_object_keys(parsed)) = 1 THEN
    RETURN parsed -> 'error';
  END IF;
  RETURN NULL;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;

WITH calls AS (
  SELECT r.id AS response_id, e.ord, e.item, fco.item AS answer, step.*, made.model_step,
         (sc.tools -> 'server') ? (e.item ->> 'name') AS offered,
         CASE WHEN coalesce(step.kind = 'agent_call',
                            sc.tools -> 'server' ->> (e.item ->> 'name') = 'agent')
              THEN 'agent' ELSE 'http' END AS label
    FROM responses r
    JOIN scopes sc ON sc.id = 'scope_' || substr(r.id, 6)
   CROSS JOIN LATERAL jsonb_array_elements(r.output) WITH ORDINALITY AS e(item, ord)
    LEFT JOIN LATERAL (
      SELECT o.item FROM jsonb_array_elements(r.output) AS o(item)
       WHERE o.item ->> 'type' = 'function_call_output'
         AND o.item ->> 'call_id' = e.item ->> 'call_id'
       LIMIT 1) fco ON true
    -- The model step that made the call, and the step that ran it.
    LEFT JOIN LATERAL (
      SELECT m.id AS model_step, m.round FROM steps m
       WHERE m.scope_id = sc.id AND m.kind = 'model_call'
         AND m.result -> 'output' @> jsonb_build_array(jsonb_build_object('id', e.item ->> 'id'))
       LIMIT 1) made ON true
    LEFT JOIN LATERAL (
      SELECT t.id AS step_id, t.kind::text AS kind, t.status::text AS status,
             t.result AS result, t.error AS step_error
        FROM steps t
       WHERE t.scope_id = sc.id AND t.kind <> 'model_call'
         AND t.call_id = e.item ->> 'call_id'
         AND (made.round IS NULL OR t.round = made.round + 1)
       ORDER BY t.round
       LIMIT 1) step ON true
   WHERE r.output @> '[{"type": "function_call"}]'
     AND e.item ->> 'type' = 'function_call'),
-- Each call ratchet ran, with how it ended as its step says (the answer the output held when
-- no step is left), the way the engine describes a call today (server-calls.ts).
served AS (
  SELECT response_id, ord, item, answer, label, model_step,
         CASE
           WHEN step_id IS NULL AND answer IS NULL THEN 'incomplete'
           WHEN step_id IS NULL THEN
             CASE WHEN pg_temp.tool_error(answer ->> 'output') IS NULL THEN 'completed'
                  ELSE 'failed' END
           WHEN status = 'completed' AND jsonb_typeof(result) = 'string' THEN 'completed'
           WHEN status IN ('completed', 'failed') THEN 'failed'
           ELSE 'incomplete'
         END AS status,
         CASE
           WHEN step_id IS NULL AND answer IS NOT NULL
                AND pg_temp.tool_error(answer ->> 'output') IS NULL THEN answer -> 'output'
           WHEN status = 'completed' AND jsonb_typeof(result) = 'string' THEN result
           ELSE 'null'::jsonb
         END AS output,
         CASE
           WHEN step_id IS NULL AND answer IS NULL THEN
             'not_run: The call was not run: the response ended before it.'
           WHEN step_id IS NULL THEN
             (SELECT e ->> 'code' || ': ' || (e ->> 'message')
                FROM pg_temp.tool_error(answer ->> 'output') AS e)
           WHEN status = 'completed' AND jsonb_typeof(result) = 'string' THEN NULL
           WHEN status IN ('completed', 'failed') THEN
             coalesce(step_error ->> 'code' || ': ' || (step_error ->> 'message'),
                      'tool_error: The tool call failed.')
           WHEN status = 'cancelled' THEN
             coalesce(step_error ->> 'code' || ': ' || (step_error ->> 'message'),
                      'cancelled: The tool call was cancelled.')
           ELSE 'not_finished: The call did not finish: the response ended while it ran.'
         END AS error
    FROM calls
   WHERE answer IS NOT NULL OR step_id IS NOT NULL OR offered),
rewritten AS (
  SELECT r.id,
         jsonb_agg(
           CASE WHEN s.ord IS NULL THEN e.item ELSE jsonb_build_object(
             'type', 'mcp_call',
             'id', 'mcp_'
                   || coalesce(substr(regexp_replace(
                        regexp_replace(s.model_step, '^step_', ''), '[^A-Za-z0-9]', '', 'g'),
                        1, 12) || '_', '')
                   || regexp_replace(s.item ->> 'id', '^fc_', ''),
             'call_id', s.item ->> 'call_id',
             'server_label', s.label,
             'name', s.item ->> 'name',
             'arguments', s.item ->> 'arguments',
             'output', s.output,
             'error', to_jsonb(s.error),
             'status', s.status)
           END ORDER BY e.ord)
           FILTER (WHERE NOT (e.item ->> 'type' = 'function_call_output' AND EXISTS (
             SELECT 1 FROM served a
              WHERE a.response_id = r.id
                AND a.item ->> 'call_id' = e.item ->> 'call_id'))) AS output
    FROM responses r
   CROSS JOIN LATERAL jsonb_array_elements(r.output) WITH ORDINALITY AS e(item, ord)
    LEFT JOIN served s ON s.response_id = r.id AND s.ord = e.ord
   WHERE r.id IN (SELECT response_id FROM served)
   GROUP BY r.id)
UPDATE responses r SET output = coalesce(rewritten.output, '[]'::jsonb)
  FROM rewritten
 WHERE r.id = rewritten.id;
