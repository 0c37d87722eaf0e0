import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'pg';
import { leaseOwnerOf } from '../libs/store/src/step-lease';
import type { RatchetClient } from './ratchet-client';
import type { RatchetProcesses } from './ratchet-processes';
import { epochMs, summarize, type Summary } from './stats';
import { pollUntil } from './waits';

// Workload e: failover. Background responses whose one tool call never answers run on two
// worker processes; the bench SIGKILLs the worker running the most of them and times, for each
// of its calls, the SIGKILL to the call's next arrival at the tool (the step's next attempt
// starting on the surviving worker). Then it cancels the round's responses, starts a
// replacement worker and goes again. Kill and arrival are read on the bench process's clock.

/** Responses per kill round: spread over both workers, the victim usually holds several. */
const RESPONSES_PER_ROUND = 6;
const RERUN_TIMEOUT_MS = 60_000;

/** The `hang` tool: records each call's arrival by Idempotency-Key, and never answers. */
export interface HangingTool {
  url: string;
  /** Arrival times (epoch ms) of the calls made with this key, in order. */
  arrivals(key: string): number[];
  /** Calls received whose JSON body has this `round`. */
  callsInRound(round: number): number;
  close(): Promise<void>;
}

export async function startHangingTool(): Promise<HangingTool> {
  const byKey = new Map<string, number[]>();
  const byRound = new Map<number, number>();
  const server: Server = createServer((request, response) => {
    const arrivedAt = epochMs();
    const key = String(request.headers['idempotency-key'] ?? '');
    byKey.set(key, [...(byKey.get(key) ?? []), arrivedAt]);
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const round = (JSON.parse(body || '{}') as { round?: number }).round ?? -1;
      byRound.set(round, (byRound.get(round) ?? 0) + 1);
      // Never answered: the call ends when the worker hangs up (cancelled, or killed).
      response.on('error', () => undefined);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hang`,
    arrivals: (key) => byKey.get(key) ?? [],
    callsInRound: (round) => byRound.get(round) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface FailoverResult {
  kills: number;
  /** SIGKILL to the next arrival of each call the killed worker was running, ms. */
  killToRerun: Summary;
  /** The same, for the first call of each kill to run again. */
  firstPerKill: Summary;
  workers: number;
}

export async function measureFailover(
  client: RatchetClient,
  db: Pool,
  ratchet: RatchetProcesses,
  tool: HangingTool,
  kills: number,
): Promise<FailoverResult> {
  const samples: number[] = [];
  const firsts: number[] = [];
  for (let round = 0; round < kills; round++) {
    const ids: string[] = [];
    for (let i = 0; i < RESPONSES_PER_ROUND; i++) {
      const created = await client.create({
        model: 'mock',
        background: true,
        input: `/call hang ${JSON.stringify({ round, i })}`,
        tools: [{ type: 'function', name: 'hang' }],
      });
      ids.push(created.id);
    }
    await pollUntil(
      `failover round ${round}: the tool calls`,
      () => Promise.resolve(tool.callsInRound(round) >= RESPONSES_PER_ROUND ? true : null),
      { timeoutMs: RERUN_TIMEOUT_MS, intervalMs: 5 },
    );
    const { rows } = await db.query<{ id: string; owner: string }>(
      `SELECT id, ${leaseOwnerOf('steps')} AS owner FROM steps
        WHERE response_id = ANY($1::text[]) AND kind = 'tool_call' AND status = 'running'`,
      [ids],
    );
    // Worker ids are `host:pid:suffix`.
    const byPid = new Map<number, string[]>();
    for (const row of rows) {
      const pid = Number(row.owner.split(':').at(-2));
      byPid.set(pid, [...(byPid.get(pid) ?? []), row.id]);
    }
    const [victim, steps] = [...byPid].sort((a, b) => b[1].length - a[1].length)[0];
    const killedAt = epochMs();
    await ratchet.killWorker(victim);
    const reruns = await pollUntil(
      `failover round ${round}: the killed worker's calls to run again`,
      () => {
        const next = steps.map((step) => tool.arrivals(step)[1]);
        return Promise.resolve(next.every((at) => at !== undefined) ? next : null);
      },
      { timeoutMs: RERUN_TIMEOUT_MS, intervalMs: 5 },
    );
    const latencies = reruns.map((at) => at - killedAt);
    samples.push(...latencies);
    firsts.push(Math.min(...latencies));
    for (const id of ids) await client.cancel(id);
    await ratchet.addWorker();
  }
  return {
    kills,
    killToRerun: summarize(samples),
    firstPerKill: summarize(firsts),
    workers: 2,
  };
}
