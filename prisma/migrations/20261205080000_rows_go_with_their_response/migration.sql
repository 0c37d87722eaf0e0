-- A response's steps, scopes, input items and events go with it through a trigger, not
-- through foreign keys. A foreign key checked its response for every statement that inserted
-- rows under it by locking the response's row FOR KEY SHARE: a WAL record of its own (about
-- 54 bytes) and a query each time, four to five times per fan-out response, for a row the
-- statement had just updated or inserted itself.
--
-- Nothing inserts those rows for a response that is gone: they are inserted with the
-- response (creation, adoption), or by a statement that first updates its row (rounds
-- spend its counters, the event log numbers its events), so a DELETE of the response waits
-- for that statement's transaction, and the trigger's DELETEs, each with a snapshot of its
-- own, see what it committed. A sub-agent's scope is opened under a KEY SHARE lock of the
-- response, as the foreign key took it (steps.sql.ts, openChild).

ALTER TABLE "steps" DROP CONSTRAINT "steps_response_id_fkey";
ALTER TABLE "scopes" DROP CONSTRAINT "scopes_response_id_fkey";
ALTER TABLE "input_items" DROP CONSTRAINT "input_items_response_id_fkey";
ALTER TABLE "events" DROP CONSTRAINT "events_response_id_fkey";

-- Once per DELETE statement, with every response it deleted (an API key's deletion
-- cascades to its responses through a foreign key, and so here too).
CREATE FUNCTION ratchet_delete_response_rows() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM steps s USING gone g WHERE s.response_id = g.id;
  DELETE FROM scopes s USING gone g WHERE s.response_id = g.id;
  DELETE FROM input_items i USING gone g WHERE i.response_id = g.id;
  DELETE FROM events e USING gone g WHERE e.response_id = g.id;
  RETURN NULL;
END
$$;

CREATE TRIGGER "responses_delete_rows" AFTER DELETE ON "responses"
  REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION ratchet_delete_response_rows();
