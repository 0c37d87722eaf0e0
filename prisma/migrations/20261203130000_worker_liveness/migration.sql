-- Worker processes that prove they are alive by a lock. As it registers, a worker takes the
-- session advisory lock (72707371, lock_key) on a Postgres connection of its own, and holds it
-- for as long as that session lasts; Postgres releases it the moment the session ends (the
-- process died, or its connection did). A running step whose lease_owner is a registered
-- worker whose lock is free is taken over at once, without waiting for its lease to run out.
-- lock_key comes from a sequence, so no two registrations share a lock.
CREATE TABLE "workers" (
    "id" TEXT NOT NULL,
    "lock_key" SERIAL NOT NULL,
    "host" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "workers_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "workers_lock_key_key" ON "workers"("lock_key");
