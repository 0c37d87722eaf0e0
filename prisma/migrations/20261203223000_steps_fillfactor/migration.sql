-- More room for a step's updates on its own page (docs/wal.md). A step is updated two to
-- four times after its insert (claimed, finished, now and then a backoff or an approval),
-- and a finished model step's row grows by its result. An update whose new version does not
-- fit on the row's page is not HOT: Postgres logs the whole new row and a new entry in each
-- of the table's three indexes. At 70 a tenth of the steps' updates still moved (about
-- 1.2 KB of WAL per response of six steps); at 50 almost none do, for pages that hold about
-- half as many steps. Only pages written from now on are packed this way.
ALTER TABLE "steps" SET (fillfactor = 50);
