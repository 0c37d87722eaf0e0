-- More room for a response's updates on its own page (docs/wal.md), as steps have. A
-- response is updated three times or so before it ends (in progress, its counters, its lease)
-- and its row grows by its output when it ends. At 70 about a third of the responses of a
-- fan-out burst moved one of those updates to another page, which logs the whole row and an
-- entry in each of the table's indexes; at 50 about a tenth do, for pages that hold fewer
-- responses. Only pages written from now on are packed this way.
ALTER TABLE "responses" SET (fillfactor = 50);
