import { ensureDatabase, inputItemOf, migrate } from '@ratchet/store';
import { Client } from 'pg';
import {
  postgresBinDir,
  startPrivatePostgres,
  type PrivatePostgres,
} from './support/private-postgres';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitForResponse } from './support/response-status';

// What a crash of Postgres itself costs, on a cluster of this test's own. Commits that
// nothing outside Postgres acts on do not wait for the disk (libs/store/src/relaxed-commit.sql.ts):
// a crash may lose the last of them, and a foreground request whose response was lost so is
// told, 503 response_gone. A response that a client was told of was in a synchronous commit,
// and survives. The WAL writer here flushes only every 10 s (its longest delay), so a crash
// soon after a relaxed commit finds it unflushed, unless some other commit flushed it first.

const bin = postgresBinDir();
// Without the server's binaries (Postgres elsewhere, in a container), there is no cluster to crash.
const describeWithServer = bin ? describe : describe.skip;

/** Attempts at losing a relaxed commit, should a flush come first each time. */
const ATTEMPTS = 3;

describeWithServer('a crash of Postgres', () => {
  let pg: PrivatePostgres;
  let ratchet: TestRatchet;
  let key: string;
  let url: string;

  beforeAll(async () => {
    pg = await startPrivatePostgres(bin as string, { wal_writer_delay: '10000ms' });
    url = pg.url('ratchet');
    await ensureDatabase(url);
    await migrate(url);
    ratchet = await startRatchet('postgres_crash', {
      // No lease renewal (a synchronous commit) while a step runs here; a job lost in the
      // crash is queued again after a second rather than 15.
      env: {
        DATABASE_URL: url,
        RATCHET_STEP_LEASE_MS: '120000',
        RATCHET_SWEEP_INTERVAL_MS: '500',
        RATCHET_SWEEP_GRACE_MS: '1000',
      },
      // The crash's warnings (sessions lost, Postgres unavailable) are expected here.
      logger: ['error'] as never,
    });
    key = await ratchet.newKey();
  });

  afterAll(async () => {
    await ratchet?.close();
    pg?.remove();
  });

  const create = (body: Record<string, unknown>): Promise<Response> =>
    ratchet.request('/v1/responses', {
      key,
      method: 'POST',
      body: JSON.stringify({ model: 'mock', ...body }),
    });

  /** The response in progress whose input holds `text`, and whether WAL waits unflushed. */
  async function running(db: Client, text: string): Promise<{ id: string; unflushed: boolean }> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await db.query<{ id: string; unflushed: boolean }>(
        `SELECT r.id, pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn() AS unflushed
           FROM responses r
          WHERE r.status = 'in_progress'
            AND EXISTS (SELECT 1 FROM input_items i
                         WHERE i.response_id = r.id AND (${inputItemOf('i')})::text LIKE $1)`,
        [`%${text}%`],
      );
      if (rows[0]) return rows[0];
      if (Date.now() > deadline) throw new Error(`no response in progress with '${text}'`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('loses a foreground response of its last moments, and answers its request 503', async () => {
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const marker = `Lost ${attempt} ${Date.now()}`;
      const waiting = create({ input: `/sleep 4000\n${marker}` });
      const db = new Client({ connectionString: url });
      await db.connect();
      const found = await running(db, marker).finally(() => db.end());
      if (!found.unflushed) {
        // Flushed already: it survives a crash, and ends as usual.
        expect((await waiting).status).toBe(200);
        continue;
      }
      pg.crash();
      pg.start();
      const answer = await waiting;
      if (answer.status === 200) continue;
      expect(answer.status).toBe(503);
      const body = (await answer.json()) as { error: { code: string } };
      expect(body.error.code).toBe('response_gone');
      const check = new Client({ connectionString: url });
      await check.connect();
      try {
        const { rows: left } = await check.query('SELECT 1 FROM responses WHERE id = $1', [
          found.id,
        ]);
        expect(left).toHaveLength(0);
      } finally {
        await check.end();
      }
      return;
    }
    throw new Error(`a flush came before the crash in all ${ATTEMPTS} attempts`);
  }, 60_000);

  it('keeps a background response, whose record waited for the disk, and runs it', async () => {
    const answer = await create({ input: '/sleep 300\nKept.', background: true });
    expect(answer.status).toBe(200);
    const { id } = (await answer.json()) as { id: string };
    pg.crash();
    pg.start();
    const ended = await waitForResponse(ratchet.client(key), id, { timeoutMs: 40_000 });
    expect(ended.status).toBe('completed');
  }, 60_000);

  it('serves foreground requests again once Postgres is back', async () => {
    const answer = await create({ input: 'Hello again.' });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { status: string }).status).toBe('completed');
  }, 30_000);
});
