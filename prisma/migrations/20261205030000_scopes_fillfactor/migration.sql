-- Scopes leave half their page free too (docs/wal.md). A scope row is wide (its input and
-- tools) and updated about five times in quick succession (its open-step counter). Postgres
-- prunes a page's dead row versions when an update finds less free space on it than the
-- fillfactor leaves; at 70 the versions of those updates filled the page before that, and
-- about half a scope update per fan-out response moved to another page (the whole row and
-- an entry in each of the table's three indexes); at 50 pages are pruned sooner, and about
-- one in twenty responses has such an update. Only pages written from now on are packed
-- this way.
ALTER TABLE "scopes" SET (fillfactor = 50);
