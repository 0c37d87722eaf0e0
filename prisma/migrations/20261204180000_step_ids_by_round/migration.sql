-- A step's id is now derived from what identifies it, its scope, round and index (stepId in
-- libs/core/src/ids.ts): recording the same decision twice gives the same ids, which the
-- primary key refuses. The unique index on (scope_id, round, index) that refused it before
-- is no longer needed: it was a third index entry for every step, about 1.2 KB of WAL per
-- fan-out response of six steps with its page splits (docs/wal.md). A scope's steps are
-- found through their response's, by the index on response_id.
--
-- Steps recorded before this migration keep their random ids. A round of theirs decided
-- again is still recorded once: the statement that records a round first looks for a step
-- of that round of the scope (libs/store/src/steps.sql.ts). Workers of an earlier version
-- name the dropped index in their round statements and fail on them until they are
-- replaced; their steps run again elsewhere, as after a crash.
DROP INDEX "steps_scope_id_round_index_key";

-- Without an index that leads with scope_id, the foreign key from steps to scopes would make
-- every scope deleted scan the steps table (ON DELETE CASCADE looks for the scope's steps).
-- Scopes are deleted only with their response, which deletes its steps through the steps'
-- own foreign key to responses; and every statement that records steps reads their scope
-- first. The key goes, and with it a key-share lock (and its WAL record) on the scope row
-- for every statement that inserts steps.
ALTER TABLE "steps" DROP CONSTRAINT "steps_scope_id_fkey";
