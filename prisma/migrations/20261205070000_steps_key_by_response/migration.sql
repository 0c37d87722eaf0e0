-- A step is found by its response and its id: the primary key leads with the response, so
-- the one index that refuses a round recorded twice also finds a response's or a scope's
-- steps, and the index on response_id alone goes. Each step inserted wrote an entry in both
-- (about 88 bytes of WAL each); the wider key costs about 30 bytes more than the old one.
-- Every statement that finds a step gives its response (libs/store/src/steps.sql.ts).

ALTER TABLE "steps" DROP CONSTRAINT "steps_pkey";
ALTER TABLE "steps" ADD CONSTRAINT "steps_pkey" PRIMARY KEY ("response_id", "id");
DROP INDEX "steps_response_id_idx";
