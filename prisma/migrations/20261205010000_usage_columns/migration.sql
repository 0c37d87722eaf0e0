-- Usage as integer columns instead of the Responses API's usage object in jsonb. The object
-- took 222 bytes of every model step and every ended response, its keys and nesting
-- included, and each update that wrote it logged them all (docs/wal.md); five int columns
-- take 20. The object is made on read, and a tree's usage is a sum of columns
-- (libs/store/src/usage-sql.ts). The columns go last in the rows: a step's claim and finish
-- then log the row's tail as before (20261203171000_step_row_layout).
ALTER TABLE "steps"
  ADD COLUMN "input_tokens" INTEGER,
  ADD COLUMN "cached_tokens" INTEGER,
  ADD COLUMN "output_tokens" INTEGER,
  ADD COLUMN "reasoning_tokens" INTEGER,
  ADD COLUMN "total_tokens" INTEGER,
  ADD COLUMN "usage_estimated" BOOLEAN;

UPDATE "steps"
   SET "input_tokens" = ("usage" #>> '{input_tokens}')::int,
       "cached_tokens" = coalesce(("usage" #>> '{input_tokens_details,cached_tokens}')::int, 0),
       "output_tokens" = ("usage" #>> '{output_tokens}')::int,
       "reasoning_tokens" = coalesce(("usage" #>> '{output_tokens_details,reasoning_tokens}')::int, 0),
       "total_tokens" = ("usage" #>> '{total_tokens}')::int,
       "usage_estimated" = CASE WHEN ("usage" ->> 'estimated')::boolean THEN true END
 WHERE "usage" IS NOT NULL;

ALTER TABLE "steps" DROP COLUMN "usage";

ALTER TABLE "responses"
  ADD COLUMN "input_tokens" INTEGER,
  ADD COLUMN "cached_tokens" INTEGER,
  ADD COLUMN "output_tokens" INTEGER,
  ADD COLUMN "reasoning_tokens" INTEGER,
  ADD COLUMN "total_tokens" INTEGER;

UPDATE "responses"
   SET "input_tokens" = ("usage" #>> '{input_tokens}')::int,
       "cached_tokens" = coalesce(("usage" #>> '{input_tokens_details,cached_tokens}')::int, 0),
       "output_tokens" = ("usage" #>> '{output_tokens}')::int,
       "reasoning_tokens" = coalesce(("usage" #>> '{output_tokens_details,reasoning_tokens}')::int, 0),
       "total_tokens" = ("usage" #>> '{total_tokens}')::int
 WHERE "usage" IS NOT NULL;

ALTER TABLE "responses" DROP COLUMN "usage";
