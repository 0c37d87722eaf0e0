import type { Pool } from 'pg';
import type { BaselineSettings } from './baseline';
import type { Cleanup } from './cleanup';
import { cpuBetween, cpuPer, idleShare, machineCpu } from './cpu';
import {
  FANOUT_CALLS,
  ratchetFanout,
  walBytesSince,
  walPosition,
  type BurstResult,
  type FanoutMeasurement,
  type FanoutResult,
  type FanoutSystem,
  type RatchetFanoutSettings,
} from './fanout';
import { startFanoutDbos, type FanoutDbosSettings } from './fanout-dbos';
import { startFanoutFloor } from './fanout-floor';
import { PeakResident } from './memory';
import type { RatchetClient } from './ratchet-client';
import { median, nowMs, summarize, type Summary } from './stats';

// Workload d, ratchet against its floor, both stacks up at once and taking turns. The host's
// speed drifts (up to 2x within an hour on a shared machine), so the two measured minutes
// apart do not compare. Here each timed burst of one is paired with the next burst of the
// other, the pairs alternate which goes first (so a steady drift favours neither), and the
// throughput ratio is the median of the pairs' ratios. One response at a time goes in
// alternating blocks the same way. Whichever system is not running has nothing queued; its
// processes' CPU over the other's rounds is measured, to show it takes nothing from them.
// A peer, DBOS Transact (bench/fanout-dbos.ts), takes its turns after them: last in every
// turn, so that ratchet and the floor each follow it as often (turnOrder).

/** One-at-a-time responses of one system before the other takes its turn. */
export const LATENCY_BLOCK = 20;

type SystemName = 'ratchet' | 'floor' | 'dbos';

export interface FanoutPlan {
  /** Untimed one-at-a-time responses per system, then timed ones. */
  warmup: number;
  reps: number;
  /** How long one system's timed one-at-a-time responses may take, all blocks together. */
  budgetMs: number;
  /** Responses per burst. */
  responses: number;
  /** Timed bursts per system, one pair each, after untimed ones per system. */
  rounds: number;
  warmupRounds: number;
  /** Told of each timed burst as it ends, with its CPU by process kind: progress to watch. */
  onRound?: (line: string) => void;
}

/** One timed burst of one system. */
export interface BurstRound {
  wallMs: number;
  stepsPerSecond: number;
  /** CPU ms of the system that ran the round, by process kind. */
  cpuMs: Record<string, number>;
  /** CPU ms the other system's processes and backends spent meanwhile, idle, by kind. */
  idleCpuMs: Record<string, number>;
  /**
   * The share of the machine's CPU time (all cores) that nothing used during the round, or
   * null where it cannot be read: what the round left on the table.
   */
  machineIdle: number | null;
  walBytes: number;
  peakResidentMb: Record<string, number>;
  peakPrivateMb: Record<string, number>;
}

export interface BurstPair {
  /** Which system ran its round first. */
  first: SystemName;
  ratchet: BurstRound;
  floor: BurstRound;
  /** ratchet's steps/s over the floor's in this pair. */
  ratio: number;
  /** DBOS's burst of the same turn, and ratchet's steps/s over its; absent without DBOS. */
  dbos?: BurstRound;
  dbosRatio?: number;
}

export interface FanoutComparison {
  ratchet: FanoutResult;
  floor: FanoutMeasurement;
  pairs: BurstPair[];
  /** The median of the pairs' ratios: the burst throughput ratio reported. */
  throughputRatio: number;
  /** DBOS Transact on the same workload, with the median of ratchet's ratios to it; or null. */
  dbos: (FanoutMeasurement & { version: string; throughputRatio: number }) | null;
}

export interface FanoutComparisonSettings {
  ratchet: RatchetFanoutSettings;
  floor: BaselineSettings;
  /** The DBOS peer's settings, or null to leave it out. */
  dbos: FanoutDbosSettings | null;
  plan: FanoutPlan;
}

/** Starts the floor (and DBOS) beside ratchet's processes, runs all interleaved, stops them. */
export async function compareFanout(
  client: RatchetClient,
  db: Pool,
  cleanup: Cleanup,
  {
    ratchet: ratchetSettings,
    floor: floorSettings,
    dbos: dbosSettings,
    plan,
  }: FanoutComparisonSettings,
): Promise<FanoutComparison> {
  const floor = await startFanoutFloor(
    floorSettings,
    db,
    { calls: FANOUT_CALLS, responses: plan.responses },
    cleanup,
  );
  let dbos: Awaited<ReturnType<typeof startFanoutDbos>> | null = null;
  try {
    if (dbosSettings) dbos = await startFanoutDbos(dbosSettings, db, cleanup);
  } catch (error) {
    await floor.stop();
    throw error;
  }
  const ratchet = ratchetFanout(client, db, ratchetSettings);
  try {
    const systems = { ratchet, floor, dbos };
    const latency = await interleaveLatency(systems, plan);
    const pairs = await interleaveBursts(db, systems, plan);
    const measured = (latency: Summary, rounds: BurstRound[], steps: number) => ({
      steps,
      latency,
      perStepP50: latency.p50 / steps,
      burst: burstResult(rounds, plan.responses, steps),
    });
    return {
      ratchet: {
        shape: ratchet.shape,
        ...measured(
          latency.ratchet,
          pairs.map((pair) => pair.ratchet),
          ratchet.steps,
        ),
      },
      floor: measured(
        latency.floor,
        pairs.map((pair) => pair.floor),
        floor.steps,
      ),
      pairs,
      throughputRatio: median(pairs.map((pair) => pair.ratio)),
      dbos:
        dbos && latency.dbos
          ? {
              version: dbos.version,
              ...measured(
                latency.dbos,
                pairs.flatMap((pair) => (pair.dbos ? [pair.dbos] : [])),
                dbos.steps,
              ),
              throughputRatio: median(pairs.flatMap((pair) => pair.dbosRatio ?? [])),
            }
          : null,
    };
  } finally {
    await dbos?.stop();
    await floor.stop();
  }
}

interface Systems {
  ratchet: FanoutSystem;
  floor: FanoutSystem;
  dbos: FanoutSystem | null;
}

/**
 * Who goes when in turn `i`: ratchet and the floor, first one then the other, and DBOS last,
 * so that each of the two follows DBOS (and whatever its work leaves Postgres to do) as often.
 */
function turnOrder(i: number, systems: Systems): SystemName[] {
  const pair: SystemName[] = i % 2 === 0 ? ['ratchet', 'floor'] : ['floor', 'ratchet'];
  return systems.dbos ? [...pair, 'dbos'] : pair;
}

/** One response at a time, each system in turn for a block; the latency of each. */
async function interleaveLatency(
  systems: Systems,
  plan: FanoutPlan,
): Promise<{ ratchet: Summary; floor: Summary; dbos: Summary | null }> {
  const run = (name: SystemName) => (systems[name] as FanoutSystem).runOne();
  const names = turnOrder(0, systems);
  for (const name of names) {
    for (let i = 0; i < plan.warmup; i++) await run(name);
  }
  const samples: Record<SystemName, number[]> = { ratchet: [], floor: [], dbos: [] };
  const deadline = nowMs() + plan.budgetMs * names.length;
  for (let turn = 0; samples.ratchet.length < plan.reps && nowMs() < deadline; turn++) {
    const block = Math.min(LATENCY_BLOCK, plan.reps - samples.ratchet.length);
    for (const name of turnOrder(turn, systems)) {
      for (let j = 0; j < block; j++) samples[name].push(await run(name));
    }
  }
  return {
    ratchet: summarize(samples.ratchet),
    floor: summarize(samples.floor),
    dbos: systems.dbos ? summarize(samples.dbos) : null,
  };
}

async function interleaveBursts(
  db: Pool,
  systems: Systems,
  plan: FanoutPlan,
): Promise<BurstPair[]> {
  const system = (name: SystemName) => systems[name] as FanoutSystem;
  const all = turnOrder(0, systems);
  // A checkpoint before the untimed rounds, so that none of Postgres's own (every 5 minutes)
  // falls in the timed ones: they measure WAL between checkpoints, the same for every run,
  // rather than the full-page images of whichever pages a checkpoint happened to precede.
  // bench:wal measures both (docs/wal.md). A role that may not checkpoint measures without.
  await db.query('CHECKPOINT').catch(() => undefined);
  for (const name of all) {
    for (let i = 0; i < plan.warmupRounds; i++) await runBurst(system(name));
  }
  const pairs: BurstPair[] = [];
  for (let i = 0; i < plan.rounds; i++) {
    const order = turnOrder(i, systems);
    const rounds: Partial<Record<SystemName, BurstRound>> = {};
    for (const name of order) {
      const idle = all.filter((other) => other !== name).map(system);
      const round = await timedRound(db, system(name), idle, plan.responses);
      rounds[name] = round;
      plan.onRound?.(describeRound(i + 1, name, round));
    }
    const ratchet = rounds.ratchet as BurstRound;
    const floor = rounds.floor as BurstRound;
    pairs.push({
      first: order.indexOf('ratchet') < order.indexOf('floor') ? 'ratchet' : 'floor',
      ratchet,
      floor,
      ratio: ratchet.stepsPerSecond / floor.stepsPerSecond,
      ...(rounds.dbos && {
        dbos: rounds.dbos,
        dbosRatio: ratchet.stepsPerSecond / rounds.dbos.stepsPerSecond,
      }),
    });
  }
  return pairs;
}

/** One burst of `system` while the `idle` ones wait, with what it cost. */
async function timedRound(
  db: Pool,
  system: FanoutSystem,
  idle: readonly FanoutSystem[],
  responses: number,
): Promise<BurstRound> {
  // Opened before the first snapshots and closed after the last: what the client holds open
  // around the burst is not the burst's work.
  const burst = await system.openBurst();
  try {
    const [cpuBefore, idleBefore] = await Promise.all([system.cpu(), idleCpu(idle)]);
    const walBefore = await walPosition(db);
    const memory = new PeakResident(() => system.pids());
    const machineBefore = machineCpu();
    let wallMs: number;
    let peakResidentMb: Record<string, number>;
    let peakPrivateMb: Record<string, number>;
    let machineIdle: number | null;
    try {
      wallMs = await burst.run();
    } finally {
      machineIdle = idleShare(machineBefore, machineCpu());
      peakResidentMb = memory.stop();
      peakPrivateMb = memory.privateStopped();
    }
    const walBytes = await walBytesSince(db, walBefore);
    const [cpuAfter, idleAfter] = await Promise.all([system.cpu(), idleCpu(idle)]);
    return {
      wallMs,
      stepsPerSecond: ((responses * system.steps) / wallMs) * 1000,
      cpuMs: Object.fromEntries(cpuBetween(cpuBefore, cpuAfter)),
      idleCpuMs: byKind(
        idleBefore.map((before, i) => Object.fromEntries(cpuBetween(before, idleAfter[i]))),
        add,
      ),
      machineIdle,
      walBytes,
      peakResidentMb,
      peakPrivateMb,
    };
  } finally {
    await burst.close();
  }
}

function idleCpu(idle: readonly FanoutSystem[]) {
  return Promise.all(idle.map((system) => system.cpu()));
}

/** A timed burst in a line: its pair, system, wall time, rate and CPU by process kind. */
function describeRound(pair: number, name: SystemName, round: BurstRound): string {
  const cpu = Object.entries(round.cpuMs)
    .map(([kind, ms]) => `${kind} ${Math.round(ms)}`)
    .join(', ');
  return `fan-out pair ${pair}, ${name}: ${Math.round(round.wallMs)} ms, ${Math.round(round.stepsPerSecond)} steps/s; CPU ms ${cpu}`;
}

/** One untimed burst. */
async function runBurst(system: FanoutSystem): Promise<number> {
  const burst = await system.openBurst();
  try {
    return await burst.run();
  } finally {
    await burst.close();
  }
}

/** One system's timed rounds taken together, as one system measured alone was reported. */
function burstResult(rounds: readonly BurstRound[], responses: number, steps: number): BurstResult {
  const roundsMs = rounds.map((round) => round.wallMs);
  const wallMs = median(roundsMs);
  const total = responses * rounds.length;
  return {
    responses,
    steps: responses * steps,
    roundsMs,
    wallMs,
    stepsPerSecond: ((responses * steps) / wallMs) * 1000,
    peakResidentMb: byKind(
      rounds.map((round) => round.peakResidentMb),
      Math.max,
    ),
    peakPrivateMb: byKind(
      rounds.map((round) => round.peakPrivateMb),
      Math.max,
    ),
    walBytesPerResponse: rounds.reduce((sum, round) => sum + round.walBytes, 0) / total,
    cpuPerResponse: cpuPer(
      new Map(
        Object.entries(
          byKind(
            rounds.map((round) => round.cpuMs),
            add,
          ),
        ),
      ),
      total,
    ),
  };
}

const add = (a: number, b: number): number => a + b;

/** Figures by process kind of several rounds, each kind's combined by `combine`. */
function byKind(
  records: readonly Record<string, number>[],
  combine: (a: number, b: number) => number,
): Record<string, number> {
  const combined: Record<string, number> = {};
  for (const record of records) {
    for (const [kind, value] of Object.entries(record)) {
      combined[kind] = kind in combined ? combine(combined[kind], value) : value;
    }
  }
  return combined;
}
