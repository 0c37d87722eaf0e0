-- A model call waiting out an upstream failure before its next try says so: until when,
-- and after what. Shown by GET /v1/responses/{id}/steps.
ALTER TABLE "steps" ADD COLUMN "backoff" JSONB;
