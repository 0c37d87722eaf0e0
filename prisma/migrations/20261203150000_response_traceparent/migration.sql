-- The W3C traceparent of the request that created a response, so that every worker that runs
-- one of its steps, on any process and after any crash, joins the same trace.
ALTER TABLE "responses" ADD COLUMN "traceparent" TEXT;
