-- A top scope has no parent step, yet the unique index on parent_step_id held an entry for
-- each (Postgres indexes NULLs): 65 to 75 bytes of WAL per response for a key nothing looks
-- up. It holds child scopes only now; a lookup by parent step names one, so it still finds
-- them here, and NULLs never conflicted.
DROP INDEX "scopes_parent_step_id_key";
CREATE UNIQUE INDEX "scopes_parent_step_id_key" ON "scopes" ("parent_step_id")
  WHERE "parent_step_id" IS NOT NULL;
