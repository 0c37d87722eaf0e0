-- Some clients send a server call (an mcp_call item) back without its id and its output,
-- keeping only the model's call_id (the OpenAI Agents SDK's conversation sessions do). The
-- call_id of each stored server call is indexed so such an item finds the stored call.
ALTER TABLE "output_items" ADD COLUMN "call_id" TEXT;

UPDATE output_items o
   SET call_id = r.output -> o.position ->> 'call_id'
  FROM responses r
 WHERE r.id = o.response_id
   AND r.output -> o.position ->> 'type' = 'mcp_call';

CREATE INDEX "output_items_call_id_idx" ON "output_items"("call_id") WHERE "call_id" IS NOT NULL;
