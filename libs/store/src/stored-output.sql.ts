import { topScopeIdOf } from './scope-id';

// A response's output as the row stores it: each item that a step of its top scope holds is a
// reference to that step (compactOutput in @ratchet/core, whose rules these mirror; migration
// 20261205060000_output_refs). A step is named by its place in the top scope, `round:index`:
//   {"$m": "round:index:k"}: item k of the model step's result;
//   {"$c": "round:index:k", "server_label", "name", "$t"?: "round:index", "status"?, "output"?,
//    "error"?}: the server call (mcp_call) whose function call is item k of the model step,
//    with the id serverCallItemId gives it; with `$t`, completed with that tool step's text.
// Everything else, and output stored before references, is stored whole.

/** Whether a stored output holds a reference, as a jsonpath. */
const HAS_REFS = `'$[*] ? (exists(@."$m") || exists(@."$c"))'`;

/**
 * The output of the response row `r` as clients see it: its references put back from one
 * read of the top scope's steps. An expression rather than a function: Postgres cannot inline
 * a function that holds a query, and calling one costs more than the expansion itself.
 * compactOutput references a server call only when its model step's id is `step_` and
 * letters and digits, so that `substr(id, 6, 12)` is serverCallItemId's key of it.
 */
export const outputOf = (r: string): string => `(CASE
    WHEN ${r}.output IS NULL OR NOT ${r}.output @? ${HAS_REFS} THEN ${r}.output
    ELSE (SELECT jsonb_agg(
      CASE
        WHEN p.model IS NULL THEN x.e
        WHEN x.e ? '$m' THEN st.results[p.model]->'output'->p.k
        ELSE jsonb_build_object(
          'type', 'mcp_call',
          'id', 'mcp_' || substr(st.ids[p.model], 6, 12) || '_'
                || CASE WHEN left(c.call->>'id', 3) = 'fc_' THEN substr(c.call->>'id', 4)
                        ELSE c.call->>'id' END,
          'call_id', c.call->'call_id',
          'server_label', x.e->'server_label',
          'name', x.e->'name',
          'arguments', c.call->'arguments',
          'status', CASE WHEN p.tool IS NOT NULL THEN '"completed"'::jsonb
                         ELSE coalesce(x.e->'status', '"incomplete"'::jsonb) END,
          'output', CASE WHEN p.tool IS NULL THEN coalesce(x.e->'output', 'null'::jsonb)
                         WHEN jsonb_typeof(st.results[p.tool]) = 'string' THEN st.results[p.tool]
                         ELSE st.results[p.tool]->'text' END,
          'error', CASE WHEN p.tool IS NOT NULL THEN 'null'::jsonb
                        ELSE coalesce(x.e->'error', 'null'::jsonb) END)
      END ORDER BY x.n)
      FROM (SELECT array_agg(s.round::bigint << 32 | s.index) AS places, array_agg(s.id) AS ids,
                   array_agg(s.result) AS results
              FROM steps s
             WHERE s.response_id = ${r}.id AND s.scope_id = ${topScopeIdOf(`${r}.id`)}) st,
           jsonb_array_elements(${r}.output) WITH ORDINALITY AS x(e, n)
           CROSS JOIN LATERAL (SELECT coalesce(x.e->>'$m', x.e->>'$c') AS at, x.e->>'$t' AS tool) a
           CROSS JOIN LATERAL (
             SELECT array_position(st.places, ${place('a.at')}) AS model,
                    split_part(a.at, ':', 3)::int AS k,
                    array_position(st.places, ${place('a.tool')}) AS tool) p
           CROSS JOIN LATERAL (SELECT st.results[p.model]->'output'->p.k AS call) c)
  END)`;

/** A `round:index` place as the bigint the expansion looks steps up by. */
function place(text: string): string {
  return `(split_part(${text}, ':', 1)::bigint << 32 | split_part(${text}, ':', 2)::int)`;
}

/**
 * What a terminal update writes of the output: the stored form (references to the steps
 * where the caller made them) and, for stored responses, the hashes of the ids the output is
 * found by. `full` and `stored` are the SQL of the whole output and of its stored form.
 */
export const setOutput = (full: string, stored: string): string =>
  `output = coalesce(${stored}, ${full}),
   output_keys = CASE WHEN r.store THEN ratchet_output_keys(${full}) END`;
