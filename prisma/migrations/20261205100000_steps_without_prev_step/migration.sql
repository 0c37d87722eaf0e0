-- The step before a step was stored with it, and nothing read it: it is the last step of the
-- round before, in the same scope, which (scope_id, round, index) already say. Its id was 30
-- bytes of every step's insert after a scope's first, about 160 bytes of WAL per fan-out
-- response. Dropping the column rewrites nothing; rows written before keep its bytes until
-- they are next updated.
ALTER TABLE "steps" DROP COLUMN "prev_step_id";
