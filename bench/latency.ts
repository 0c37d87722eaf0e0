import { addCpu, cpuBetween, cpuPer, type CpuProbe } from './cpu';
import type { RatchetClient } from './ratchet-client';
import type { Shape } from './shapes';
import { nowMs, summarize, type Summary } from './stats';

// Workload a: one foreground response at a time, so each latency is ratchet's own overhead
// for that many steps with nothing else competing for the CPU, Postgres or Redis.

/** Warm-up stops early after this long: slow shapes need fewer rounds to warm up. */
const WARMUP_BUDGET_MS = 3_000;

export interface LatencyResult {
  shape: Shape;
  /** End-to-end latency of `POST /v1/responses` (stream false), ms. */
  latency: Summary;
  /** CPU ms per response, by process kind (api, worker, postgres). */
  cpuPerResponse: Record<string, number>;
  /**
   * Time between the starts of consecutive steps of one response, ms, over the timed
   * responses: each gap is one step run and recorded and the next one decided and claimed.
   * Null for a one-step shape.
   */
  stepGaps: Summary | null;
}

export interface LatencyOptions {
  warmup: number;
  reps: number;
  /** The timed loop stops early after this long, so a slow shape cannot blow the run's budget. */
  budgetMs: number;
  /** Steps recorded for a response, read from Postgres, to prove the shape is what it claims. */
  countSteps: (responseId: string) => Promise<number>;
  /** The gaps between consecutive step starts of each response, from Postgres. */
  stepGaps: (responseIds: string[]) => Promise<number[]>;
  cpu: CpuProbe;
  /**
   * Runs after every `every` timed responses, the last included, outside the timing and the
   * CPU counted (the floor's sequential chain, in blocks between ratchet's).
   */
  between?: { every: number; run: () => Promise<void> };
}

export async function measureLatency(
  client: RatchetClient,
  shape: Shape,
  options: LatencyOptions,
): Promise<LatencyResult> {
  const warmupDeadline = nowMs() + WARMUP_BUDGET_MS;
  for (let i = 0; i < options.warmup && nowMs() < warmupDeadline; i++) {
    await runOnce(client, shape);
  }
  const probe = await runOnce(client, shape);
  const recorded = await options.countSteps(probe.id);
  if (recorded !== shape.steps) {
    throw new Error(`shape '${shape.name}' recorded ${recorded} steps, expected ${shape.steps}`);
  }

  const samples: number[] = [];
  const ids: string[] = [];
  let deadline = nowMs() + options.budgetMs;
  const cpu = new Map<string, number>();
  let cpuBefore = await options.cpu();
  const countCpu = async (): Promise<void> => {
    addCpu(cpu, cpuBetween(cpuBefore, await options.cpu()));
  };
  while (samples.length < options.reps && nowMs() < deadline) {
    const started = nowMs();
    ids.push((await runOnce(client, shape)).id);
    samples.push(nowMs() - started);
    if (options.between && samples.length % options.between.every === 0) {
      await countCpu();
      const paused = nowMs();
      await options.between.run();
      deadline += nowMs() - paused;
      cpuBefore = await options.cpu();
    }
  }
  await countCpu();
  const gaps = shape.steps > 1 ? await options.stepGaps(ids) : [];
  return {
    shape,
    latency: summarize(samples),
    cpuPerResponse: cpuPer(cpu, samples.length),
    stepGaps: gaps.length > 0 ? summarize(gaps) : null,
  };
}

async function runOnce(client: RatchetClient, shape: Shape): Promise<{ id: string }> {
  const response = await client.create(shape.body);
  if (response.status !== 'completed') {
    throw new Error(
      `shape '${shape.name}': response ${response.id} ended ${response.status}: ${JSON.stringify(response.error)}`,
    );
  }
  return response;
}
