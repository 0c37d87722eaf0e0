-- A step often runs in less than a millisecond: its start and end are kept to the
-- microsecond, so the time between consecutive steps can be read from them. Raising a
-- timestamp's precision rewrites no rows.
ALTER TABLE "steps" ALTER COLUMN "started_at" SET DATA TYPE TIMESTAMPTZ(6),
                    ALTER COLUMN "completed_at" SET DATA TYPE TIMESTAMPTZ(6);
