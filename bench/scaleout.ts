import type { Pool } from 'pg';
import type { CpuProbe } from './cpu';
import type { RatchetClient } from './ratchet-client';
import type { RatchetProcesses } from './ratchet-processes';
import { slowRoundShape, type Shape } from './shapes';
import { measureThroughput } from './throughput';

// Workload g: scale-out. With latency-bound tools (each answers after SLOW_TOOL_MS), a worker
// process is bounded by its job slots (WORKER_CONCURRENCY), not by the CPU, so adding worker
// processes should add throughput almost linearly: the same burst of fan-out responses runs
// with 1, then 2, then 4 worker processes sharing one API, one Postgres and one Redis.

export interface ScaleoutStep {
  workers: number;
  stepsPerSecond: number;
  roundsMs: number[];
  /** Throughput over the one-worker figure. */
  speedup: number;
}

export interface ScaleoutResult {
  shape: Shape;
  responses: number;
  concurrency: number;
  steps: ScaleoutStep[];
}

export const SCALEOUT_WORKERS = [1, 2, 4] as const;

/**
 * Rounds per worker count: one untimed after each change, then the median of three timed,
 * as the comparison of peers measured each figure.
 */
export const SCALEOUT_ROUNDS = { timed: 3, warmup: 1 } as const;

export async function measureScaleout(
  processes: RatchetProcesses,
  client: RatchetClient,
  db: Pool,
  settings: {
    responses: number;
    concurrency: number;
    cpu: CpuProbe;
    log: (line: string) => void;
  },
): Promise<ScaleoutResult> {
  const shape = slowRoundShape(4);
  const steps: ScaleoutStep[] = [];
  for (const workers of SCALEOUT_WORKERS) {
    while (processes.pids().filter((p) => p.name === 'worker').length < workers) {
      await processes.addWorker();
    }
    const result = await measureThroughput(
      client,
      db,
      shape,
      settings.responses,
      SCALEOUT_ROUNDS,
      settings.cpu,
    );
    processes.assertAlive();
    const speedup = steps.length === 0 ? 1 : result.stepsPerSecond / steps[0].stepsPerSecond;
    steps.push({
      workers,
      stepsPerSecond: result.stepsPerSecond,
      roundsMs: result.roundsMs,
      speedup,
    });
    settings.log(
      `scale-out: ${workers} worker(s): ${Math.round(result.stepsPerSecond)} steps/s (${speedup.toFixed(2)}x)`,
    );
  }
  return { shape, responses: settings.responses, concurrency: settings.concurrency, steps };
}
