-- The engine records many responses' steps in one statement, taking the operations as one
-- JSON array. json_array_elements is planned as if it returned 100 rows, which makes hash
-- joins over sequential scans of steps and responses look cheaper than index lookups, and a
-- plan cached that way costs more as the tables grow. This function returns the same rows
-- but is planned as returning one, so each operation finds its rows through the indexes, as
-- a single one would. PL/pgSQL, since the planner would inline a SQL function and lose the
-- estimate (and a SQL function kept from inlining is planned again on every call).
CREATE FUNCTION "ratchet_each"(items json) RETURNS SETOF json
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE ROWS 1
  AS $$ BEGIN RETURN QUERY SELECT json_array_elements(items); END $$;
