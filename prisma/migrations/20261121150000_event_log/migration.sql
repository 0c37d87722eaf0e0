-- The event log of streamed responses. An event is stored as the exact JSON text clients
-- receive (sequence_number included), so replay and live delivery never re-serialise it.
ALTER TABLE "events" ALTER COLUMN "data" TYPE TEXT USING "data"::text;

-- The step whose execution logged the event (null for the response's own lifecycle events):
-- a retried or recovered step finds what its earlier attempts streamed.
ALTER TABLE "events" ADD COLUMN "step_id" TEXT;
CREATE INDEX "events_step_id_idx" ON "events"("step_id");

-- Set with the terminal event: nothing is logged after it.
ALTER TABLE "responses" ADD COLUMN "events_closed" BOOLEAN NOT NULL DEFAULT false;

-- Output items a scope has announced on the stream (abandoned attempts included): the next
-- item's output_index.
ALTER TABLE "scopes" ADD COLUMN "stream_items" INTEGER NOT NULL DEFAULT 0;
