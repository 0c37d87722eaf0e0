import { BASELINE_BLOCKS, type BaselineResult } from './baseline';
import type { FailoverResult } from './failover';
import type { FanoutResult } from './fanout';
import { LATENCY_BLOCK, type BurstPair, type FanoutComparison } from './fanout-interleaved';
import { SLOW_TOOL_MS } from './noop-tool-server';
import { SCALEOUT_ROUNDS, type ScaleoutResult } from './scaleout';
import type { LatencyResult } from './latency';
import type { Machine } from './machine';
import type { BenchOptions } from './options';
import { linearFit, type Summary } from './stats';
import type { StreamingResult } from './streaming';
import type { ThroughputResult } from './throughput';
import type { TraceResult } from './trace';

// The results as markdown: printed on every run, written to docs/benchmarks.md with --write.

/** The targets ratchet is held to (see the bench's brief in docs/benchmarks.md). */
export const TARGETS = {
  perStepP50Ms: 2,
  baselineRatio: 2,
  stepsPerSecond: 1500,
  killToRerunP50Ms: 1000,
  killToRerunP95Ms: 2000,
  fanoutPerStepRatio: 1.25,
  fanoutThroughputRatio: 0.75,
  fanoutWalBytes: 10 * 1024,
  idleResidentMb: 80,
  peakResidentMb: 150,
  scaleoutSpeedup: 1.8,
};

export interface BenchResults {
  machine: Machine;
  options: BenchOptions;
  startedAt: Date;
  durationMs: number;
  /** 1-minute load average when the run started: other work on the machine skews figures. */
  loadAverage: number;
  latency: LatencyResult[];
  throughput: ThroughputResult[];
  /** Null when BENCH_STREAM_RESPONSES is 0. */
  streaming: StreamingResult | null;
  baseline: BaselineResult;
  /** Resident MB of the largest process of each kind, idle after start-up. */
  idleResidentMb: Record<string, number>;
  /** The private (anonymous) part of each idle process's resident set, MB. */
  idlePrivateMb: Record<string, number>;
  /** The same, read again once V8's first idle collection has run (15 s after start-up). */
  settledResidentMb: Record<string, number>;
  settledPrivateMb: Record<string, number>;
  /** Null when BENCH_FANOUT_RESPONSES is 0. */
  fanout: FanoutComparison | null;
  trace: TraceResult | null;
  /** Null when BENCH_FAILOVER_KILLS is 0. */
  failover: FailoverResult | null;
  /** Null when BENCH_SCALEOUT_RESPONSES is 0. */
  scaleout: ScaleoutResult | null;
}

const ms = (value: number): string => value.toFixed(2);
const int = (value: number): string => Math.round(value).toLocaleString('en-US');
const percent = (share: number | null): string =>
  share === null ? 'n/a' : `${Math.round(share * 100)}%`;
const verdict = (ok: boolean): string => (ok ? 'met' : '**missed**');
/** CPU ms by process kind, in a fixed order. */
const cpu = (byKind: Record<string, number>): string =>
  ['api', 'worker', 'postgres'].map((kind) => ms(byKind[kind] ?? 0)).join(' / ');

export function renderReport(results: BenchResults): string {
  return [
    header(results),
    verdicts(results),
    latencyTable(results),
    throughputTable(results),
    baselineTable(results),
    results.fanout ? fanoutSection(results, results.fanout) : '',
    results.streaming ? streamingSection(results.streaming) : '',
    results.failover ? failoverSection(results.failover) : '',
    results.scaleout ? scaleoutSection(results.scaleout) : '',
    results.trace ? traceSection(results.trace) : '',
    method(results),
  ]
    .filter((section) => section !== '')
    .join('\n\n')
    .concat('\n');
}

function header({ machine, options, startedAt, durationMs, loadAverage }: BenchResults): string {
  return `# Benchmarks

Measured by \`npm run bench\` (bench/) on ${startedAt.toISOString().slice(0, 10)}, in ${Math.round(durationMs / 1000)} s.

| machine | |
|---|---|
| CPU | ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB |
| Node | ${machine.node} |
| PostgreSQL | ${machine.postgres} |
| Redis | ${machine.redis} |
| load average at start | ${loadAverage.toFixed(2)} (1 min; anything else running shares the ${machine.cores} cores) |
| ratchet processes | 1 API, ${options.workers} worker(s), WORKER_CONCURRENCY ${options.concurrency}, LOG_LEVEL warn |`;
}

/** Least-squares fit of p50 latency over steps, sequential shapes: marginal and fixed cost. */
function sequentialFit(latency: LatencyResult[]): { slope: number; intercept: number } {
  const sequential = latency.filter((result) => result.shape.kind === 'sequential');
  return linearFit(sequential.map((r) => ({ x: r.shape.steps, y: r.latency.p50 })));
}

/** The shape whose consecutive steps give the per-step overhead the targets are stated for. */
function toolLoop(latency: LatencyResult[]): LatencyResult & { stepGaps: Summary } {
  const loop = latency.find((r) => r.shape.name.endsWith('tool rounds') && r.stepGaps);
  if (!loop?.stepGaps) throw new Error('the tool loop shape was not measured');
  return { ...loop, stepGaps: loop.stepGaps };
}

function failoverVerdicts(failover: FailoverResult | null): string {
  if (!failover) return '';
  const { p50, p95 } = failover.killToRerun;
  const where = `SIGKILL to the step's next attempt starting, ${failover.killToRerun.count} steps of ${failover.kills} kills`;
  return `
| kill-to-rerun p50 <= ${int(TARGETS.killToRerunP50Ms)} ms (${where}) | ${int(p50)} ms | ${verdict(p50 <= TARGETS.killToRerunP50Ms)} |
| kill-to-rerun p95 <= ${int(TARGETS.killToRerunP95Ms)} ms | ${int(p95)} ms (max ${int(failover.killToRerun.max)} ms) | ${verdict(p95 <= TARGETS.killToRerunP95Ms)} |`;
}

function fanoutVerdicts({
  fanout,
  idleResidentMb,
  idlePrivateMb,
  settledResidentMb,
  settledPrivateMb,
}: BenchResults): string {
  if (!fanout) return '';
  const { ratchet, floor, pairs } = fanout;
  const perStep = ratchet.perStepP50 / floor.perStepP50;
  const throughput = fanout.throughputRatio;
  const wal = ratchet.burst.walBytesPerResponse;
  const idle = Math.max(...Object.values(idleResidentMb));
  const peak = Math.max(...Object.values(ratchet.burst.peakResidentMb));
  const burst = `${int(ratchet.burst.responses)} at once`;
  return `
| fan-out per-step p50 <= ${TARGETS.fanoutPerStepRatio}x the floor's (model -> ${ratchet.shape.steps - 2} tools -> model, ${ms(floor.perStepP50)} ms) | ${ms(ratchet.perStepP50)} ms, ${perStep.toFixed(2)}x | ${verdict(perStep <= TARGETS.fanoutPerStepRatio)} |
| fan-out throughput >= ${TARGETS.fanoutThroughputRatio}x the floor's (${burst}, median of ${pairs.length} interleaved pairs of rounds; floor ${int(floor.burst.stepsPerSecond)} steps/s) | ${int(ratchet.burst.stepsPerSecond)} steps/s, ${throughput.toFixed(2)}x | ${verdict(throughput >= TARGETS.fanoutThroughputRatio)} |
| Postgres WAL per fan-out response <= ${int(TARGETS.fanoutWalBytes / 1024)} KB | ${(wal / 1024).toFixed(1)} KB (floor ${(floor.burst.walBytesPerResponse / 1024).toFixed(1)} KB) | ${verdict(wal <= TARGETS.fanoutWalBytes)} |
| idle resident memory <= ${TARGETS.idleResidentMb} MB per process, 2 s after start-up (private part in brackets) | ${residentList(idleResidentMb, idlePrivateMb)}; settled (15 s): ${residentList(settledResidentMb, settledPrivateMb)} | ${verdict(idle <= TARGETS.idleResidentMb)} |
| peak resident memory <= ${TARGETS.peakResidentMb} MB per process (${burst}) | ${residentList(ratchet.burst.peakResidentMb, ratchet.burst.peakPrivateMb)} | ${verdict(peak <= TARGETS.peakResidentMb)} |${dbosVerdict(fanout)}`;
}

function dbosVerdict({ dbos, ratchet }: FanoutComparison): string {
  if (!dbos) return '';
  return `
| fan-out throughput ahead of DBOS Transact's (${int(ratchet.burst.responses)} at once, median of ${dbos.burst.roundsMs.length} interleaved rounds' ratios; DBOS ${int(dbos.burst.stepsPerSecond)} steps/s) | ${int(ratchet.burst.stepsPerSecond)} steps/s, ${dbos.throughputRatio.toFixed(2)}x | ${verdict(dbos.throughputRatio > 1)} |`;
}

const residentList = (
  byKind: Record<string, number>,
  privateByKind: Record<string, number> = {},
): string =>
  Object.entries(byKind)
    .map(([kind, mb]) => {
      const own = privateByKind[kind];
      return `${kind} ${int(mb)} MB${own === undefined ? '' : ` (${int(own)})`}`;
    })
    .join(', ');

function fanoutSection(
  { options }: BenchResults,
  fanout: NonNullable<BenchResults['fanout']>,
): string {
  const { ratchet, floor, pairs, dbos } = fanout;
  const steps = ratchet.shape.steps;
  const row = (system: string, perStep: number, burst: FanoutResult['burst']): string =>
    [
      system,
      ms(perStep),
      burst.roundsMs.map((v) => int(v)).join(' / '),
      int(burst.stepsPerSecond),
      residentList(burst.peakResidentMb, burst.peakPrivateMb),
      (burst.walBytesPerResponse / 1024).toFixed(1),
      ms(totalCpu(burst.cpuPerResponse) / steps),
      cpu(burst.cpuPerResponse),
    ].join(' | ');
  const pairRow = (pair: BurstPair, i: number): string =>
    [
      `${i + 1} (${pair.first} first)`,
      `${int(pair.ratchet.wallMs)} / ${int(pair.floor.wallMs)}`,
      `${int(pair.ratchet.stepsPerSecond)} / ${int(pair.floor.stepsPerSecond)}`,
      `${pair.ratio.toFixed(2)}x`,
      `${ms(totalCpu(pair.ratchet.cpuMs) / ratchet.burst.steps)} / ${ms(totalCpu(pair.floor.cpuMs) / floor.burst.steps)}`,
      `${int(totalCpu(pair.ratchet.idleCpuMs))} / ${int(totalCpu(pair.floor.idleCpuMs))}`,
      `${percent(pair.ratchet.machineIdle)} / ${percent(pair.floor.machineIdle)}`,
      ...(dbos
        ? [
            pair.dbos && pair.dbosRatio
              ? `${int(pair.dbos.stepsPerSecond)}, ${pair.dbosRatio.toFixed(2)}x`
              : '',
          ]
        : []),
    ].join(' | ');
  return `## d. Parallel tool rounds and memory

The shape agents mostly have: one response is model -> ${steps - 2} parallel tool calls -> model,
${steps} steps, with the instant mock model and the no-op http tool. Per step: one response at a
time (foreground \`POST /v1/responses\`, ${ratchet.latency.count} after ${options.warmup} untimed),
the end-to-end p50 divided by ${steps}. Then ${int(ratchet.burst.responses)} foreground requests at once
on ${int(ratchet.burst.responses)} keep-alive connections, ${ratchet.burst.roundsMs.length} rounds after ${options.fanoutWarmupRounds} untimed, median
reported. The client opens the round's connections (a \`GET /healthz\` on each) before the
round's clock and snapshots start, as a client's connection pool holds them, and closes them
after: the floor's client, too, has its Redis connection open before its clock starts. Peak resident memory is sampled from /proc every 50 ms over each system's own timed rounds (in
brackets, its private part: resident memory also counts the pages of node's own binary a
process has touched, about 47 MB, which every node process on the machine shares), WAL
is the server's WAL insert position before and after each of them, with a \`CHECKPOINT\` before the untimed
rounds so that no checkpoint falls in the timed ones (anything else writing to the server counts
too; [wal.md](wal.md) measures it on a server of its own, after a checkpoint and between two,
and says where it goes).

The floor (bench/fanout-floor-worker.ts) runs the same shape on raw BullMQ + pg in
${options.workers} worker process(es) of its own: one \`INSERT\` per job; the first model job adds a BullMQ
flow whose ${steps - 2} children are the tool jobs and whose parent is the second model job, so BullMQ
joins the fan-out. One chain at a time is timed from adding its first job to the completion
event of its last; bursts end at the last job's insert.

The two run at the same time and are measured interleaved, round by round, so that the host's
speed, which drifts, is the same for both: one response at a time in blocks of ${LATENCY_BLOCK}, then each
one's untimed bursts, then timed bursts in pairs, ratchet's and the floor's. Turn by turn,
ratchet goes first, then the floor, and so on, blocks and pairs alike.
Each pair gives a ratio of steps/s, and **the throughput ratio is the median of the pairs'**.
The systems whose round it is not are idle, nothing queued; the CPU their processes and Postgres
backends spend meanwhile is in the pairs' next-to-last column. Their last column is the share
of the machine's CPU time, both cores, that nothing used during each round (from /proc/stat):
the round's waits that no other work filled ([cpu.md](cpu.md), "What the burst waits on").
${dbos ? dbosParagraph(dbos.version, steps) : ''}
| system | per-step p50 ms | wall ms per round | steps/s | peak resident | WAL KB / response | CPU ms / step | CPU ms / response: api / worker / pg |
|---|--:|--:|--:|--:|--:|--:|--:|
| ${row('ratchet (api + worker, http tools, foreground POST)', ratchet.perStepP50, ratchet.burst)} |
| ${row('raw BullMQ + pg, flow-joined (the floor)', floor.perStepP50, floor.burst)} |${dbos ? `\n| ${row(`DBOS Transact ${dbos.version} (workflow of steps, in-process client)`, dbos.perStepP50, dbos.burst)} |` : ''}

| pair | wall ms: ratchet / floor | steps/s: ratchet / floor | ratio | CPU ms / step: ratchet / floor | idle CPU ms: the others in ratchet's round / in the floor's | machine idle: ratchet's round / floor's |${dbos ? " DBOS's round: steps/s, ratchet's ratio to it |" : ''}
|---|--:|--:|--:|--:|--:|--:|${dbos ? '--:|' : ''}
${pairs.map((pair, i) => `| ${pairRow(pair, i)} |`).join('\n')}

Ratios: per step **${(ratchet.perStepP50 / floor.perStepP50).toFixed(2)}x** the floor, throughput
**${fanout.throughputRatio.toFixed(2)}x** (median of the pairs), CPU per step
**${(totalCpu(ratchet.burst.cpuPerResponse) / totalCpu(floor.burst.cpuPerResponse)).toFixed(2)}x**.${
    dbos
      ? ` Against DBOS Transact: per step **${(ratchet.perStepP50 / dbos.perStepP50).toFixed(2)}x**, throughput **${dbos.throughputRatio.toFixed(2)}x** (median of the rounds'), CPU per step **${(totalCpu(ratchet.burst.cpuPerResponse) / totalCpu(dbos.burst.cpuPerResponse)).toFixed(2)}x**.`
      : ''
  }
One response at a time takes ${ms(ratchet.latency.p50)} ms p50 (p95 ${ms(ratchet.latency.p95)} ms) through ratchet and
${ms(floor.latency.p50)} ms (p95 ${ms(floor.latency.p95)} ms) on the floor${dbos ? `, ${ms(dbos.latency.p50)} ms (p95 ${ms(dbos.latency.p95)} ms) on DBOS` : ''}.
Where the CPU of this workload goes (per process, per statement, per Redis command), and how
to measure it: [cpu.md](cpu.md).`;
}

function dbosParagraph(version: string, steps: number): string {
  return `
A peer takes its turns too: DBOS Transact ${version} (bench/fanout-dbos-worker.ts), the durable
workflow library that checkpoints each step in Postgres. One workflow runs a model step, ${steps - 2}
steps at once (\`Promise.all\`), and a model step, all instant functions in its process (no
HTTP tool), with its system tables in the bench database through a pg pool of 20. Its client is
that same process: \`DBOS.startWorkflow\` for each workflow, then each handle's result, timed
there, with no HTTP request or queue hop before a workflow starts. DBOS goes last in every
turn, one-at-a-time blocks and bursts alike, and the other two take turns going first, so
each of them follows DBOS (and whatever its work leaves Postgres to do) as often. Its ratio
is ratchet's steps/s over DBOS's in the same turn, and the median of those is reported. \`BENCH_FANOUT_DBOS=0\` leaves it out.
`;
}

function verdicts(results: BenchResults): string {
  const { latency, throughput, baseline, failover } = results;
  const loop = toolLoop(latency);
  const perStep = loop.stepGaps.p50;
  const floor = baseline.perStep.p50;
  const stepsPerSecond = throughput[0].stepsPerSecond;
  const toolRound = latency.find((r) => r.shape.name === 'one tool round') ?? latency[0];
  const fit = sequentialFit(latency);
  return `## Against the targets

| target | ratchet | verdict |
|---|---|---|
| per-step overhead p50 <= ${TARGETS.perStepP50Ms} ms (consecutive steps of one response, ${loop.shape.name}) | ${ms(perStep)} ms (p95 ${ms(loop.stepGaps.p95)} ms) | ${verdict(perStep <= TARGETS.perStepP50Ms)} |
| per-step within ${TARGETS.baselineRatio}x the baseline (consecutive jobs of one chain, ${ms(floor)} ms p50) | ${(perStep / floor).toFixed(1)}x | ${verdict(perStep <= TARGETS.baselineRatio * floor)} |
| >= ${int(TARGETS.stepsPerSecond)} steps/s (${throughput[0].responses} x ${throughput[0].shape.steps}-step responses at once) | ${int(stepsPerSecond)} steps/s (baseline ${int(baseline.throughput.stepsPerSecond)}) | ${verdict(stepsPerSecond >= TARGETS.stepsPerSecond)} |${fanoutVerdicts(results)}${failoverVerdicts(failover)}${scaleoutVerdict(results.scaleout)}

Per-step overhead is measured as the baseline's is: the time from one step's start to the
next one's, within one response (Postgres's \`started_at\`, set by the statement that claims
each step), over ${loop.stepGaps.count} consecutive pairs. Each gap is one step run (the mock model
or the no-op tool over HTTP), its outcome recorded, the next step decided and claimed.

A whole response also pays a fixed cost that no step does: the HTTP request and auth,
recording the response, the queue hop to a worker, and waking the waiting request. End to end,
one tool round (${toolRound.shape.steps} steps) takes ${ms(toolRound.latency.p50)} ms p50, ${ms(toolRound.latency.p50 / toolRound.shape.steps)} ms per step; over the
sequential shapes a response costs ${ms(fit.intercept)} ms plus ${ms(fit.slope)} ms per step (least squares).`;
}

function latencyTable({ latency, options }: BenchResults): string {
  const rows = latency.map(({ shape, latency: l, cpuPerResponse, stepGaps }) =>
    [
      shape.name,
      shape.kind,
      shape.steps,
      shape.criticalPath,
      l.count,
      ms(l.p50),
      ms(l.p95),
      ms(l.p50 / shape.steps),
      ms(l.p95 / shape.steps),
      shape.kind === 'sequential' && stepGaps ? `${ms(stepGaps.p50)} / ${ms(stepGaps.p95)}` : '',
      cpu(cpuPerResponse),
    ].join(' | '),
  );
  const fit = sequentialFit(latency);
  return `## a. Per-step overhead, one response at a time

Foreground \`POST /v1/responses\` (stream false), one response at a time, timed end to end at
the client (undici, keep-alive), after ${options.warmup} warm-up responses per shape (at most 3 s
of them). Steps are the model, tool and agent steps a response records, checked in Postgres.
Sequential shapes are a loop of tool rounds in one scope (the mock's \`/rounds\`) or nested
\`chain\` sub-agents (each level adds model, agent step, model around the level below);
parallel shapes make N tool calls in one round (run at most 16 at a time, ratchet's default
per-scope limit). The step gap is the time between the starts of consecutive steps of a
response, in Postgres (sequential shapes). CPU is user + system time of all threads from /proc
over the timed responses: the API, the worker(s) and the Postgres backends serving them
(redis-server is shared with the rest of the machine and not counted).

| shape | kind | steps | critical path | n | p50 ms | p95 ms | p50 ms / step | p95 ms / step | step gap p50 / p95 ms | CPU ms / response: api / worker / pg |
|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|
${rows.map((row) => `| ${row} |`).join('\n')}

Least-squares fit of p50 over the sequential shapes: **${ms(fit.slope)} ms per additional step**
plus ${ms(fit.intercept)} ms per response (HTTP, auth, recording the response, waking the waiting
request). ${perStepTrend(latency)}`;
}

function perStepTrend(latency: LatencyResult[]): string {
  const sequential = latency.filter((result) => result.shape.kind === 'sequential');
  const first = sequential[1] ?? sequential[0];
  const last = sequential[sequential.length - 1];
  const a = first.latency.p50 / first.shape.steps;
  const b = last.latency.p50 / last.shape.steps;
  const change = ((b - a) / a) * 100;
  const trend = change > 10 ? 'grows' : 'does not grow';
  return `Cost per step ${trend} with chain length: p50 / step is ${ms(a)} ms at ${first.shape.steps} steps and ${ms(b)} ms at ${last.shape.steps} steps (${change >= 0 ? '+' : ''}${change.toFixed(0)}%).`;
}

const totalCpu = (byKind: Record<string, number>): number =>
  Object.values(byKind).reduce((sum, value) => sum + value, 0);

function throughputTable({ throughput, options, machine, baseline }: BenchResults): string {
  const rows = throughput.map((t) =>
    [
      `${t.responses} x ${t.shape.name} (${t.shape.steps} steps)`,
      int(t.steps),
      t.roundsMs.map((value) => int(value)).join(' / '),
      int(t.stepsPerSecond),
      int(t.responsesPerSecond),
      cpu(t.cpuPerStep),
    ].join(' | '),
  );
  const perStep = totalCpu(throughput[0].cpuPerStep);
  const floorPerStep = totalCpu(baseline.throughput.cpuPerStep);
  return `## b. Throughput

Background responses submitted all at once; wall time runs from the first submission to the
last response's \`completed_at\`. ${options.throughputRounds} rounds after ${options.throughputWarmupRounds} untimed
one(s), median reported. The baseline's rounds of the same shape (section c) take turns with
ratchet's ${baseline.throughput.chains} x ${baseline.throughput.stepsPerChain}-step rounds, each right after one, warm-up included.

| workload | steps | wall ms per round | steps/s | responses/s | CPU ms / step: api / worker / pg |
|---|--:|--:|--:|--:|--:|
${rows.map((row) => `| ${row} |`).join('\n')}

CPU bounds throughput: the ${throughput[0].shape.steps}-step responses cost ${ms(perStep)} ms of CPU per
step across the API, the worker(s) and Postgres, so ${machine.cores} cores cannot run more than
about ${int((machine.cores * 1000) / perStep)} such steps/s at any concurrency (the baseline
spends ${ms(floorPerStep)} ms per step).`;
}

function baselineTable(results: BenchResults): string {
  const { baseline, options } = results;
  const { perStep: p, throughput: t } = baseline;
  return `## c. Baseline: raw BullMQ + pg

${options.workers} worker process(es) of their own (bench/baseline-worker.ts, concurrency
${options.concurrency}); each job does one \`INSERT\` through \`pg\` and enqueues the next job
of its chain. Per-step time is the gap between consecutive job starts in a chain, over
${baseline.chainSteps} jobs in chains of ${int(Math.ceil(options.baselineChain / BASELINE_BLOCKS))}, each run
after a block of ratchet's ${toolLoop(results.latency).shape.name} (section a), so that both are
measured over the same stretch of the run. Its throughput rounds take turns with ratchet's
(section b), each right after one of ratchet's.

| baseline | p50 ms | p95 ms | mean ms | throughput | CPU ms / step: api / worker / pg |
|---|--:|--:|--:|--:|--:|
| sequential chain, per step | ${ms(p.p50)} | ${ms(p.p95)} | ${ms(p.mean)} | | ${cpu(baseline.sequentialCpuPerStep)} |
| ${t.chains} chains x ${t.stepsPerChain} jobs at once (wall ms per round: ${t.roundsMs.map((v) => int(v)).join(' / ')}) | | | | ${int(t.stepsPerSecond)} steps/s | ${cpu(t.cpuPerStep)} |`;
}

function streamingSection(streaming: StreamingResult): string {
  const { direct, ratchet, replay } = streaming;
  const latencyRow = (path: string, l: typeof direct): string =>
    `| ${path} | ${int(l.count)} | ${ms(l.p50)} | ${ms(l.p99)} | ${ms(l.max)} |`;
  const replayRows = replay.rows.map((row) => {
    const seconds = row.medianMs / 1000;
    return [
      row.after === null ? 'from the start' : `starting_after=${row.after}`,
      int(row.events),
      (row.bytes / 1e6).toFixed(2),
      row.runsMs.map((value) => ms(value)).join(' / '),
      ms(row.medianMs),
      int(row.events / seconds),
      (row.bytes / 1e6 / seconds).toFixed(1),
    ].join(' | ');
  });
  const full = replay.rows[0];
  return `## e. Streaming

**Delta latency.** A fake Chat Completions upstream inside the bench process
(bench/stream-upstream.ts) answers every \`stream: true\` request with ${streaming.deltasPerResponse} content
deltas ${streaming.intervalMs} ms apart, each naming its stream and position. Through ratchet, the
\`streamer\` model (provider \`openai-chat\`) points at it and the bench client streams
\`POST /v1/responses\` (\`"stream": true\`, foreground); each \`response.output_text.delta\`
event's arrival at the client minus the moment the upstream wrote that delta is one sample
(same process, same clock). The path: upstream -> worker (openai-chat provider) -> batched
writer (RATCHET_STREAM_LINGER_MS at its default 0: a delta is written at once unless a batch is
being written, and then goes out with the next) -> Postgres -> Redis -> API -> client.
Directly: the same client reading the upstream's own SSE. ${streaming.responses} responses each way,
alternating, after ${streaming.warmupPairs} untimed pairs.

| path | deltas | p50 ms | p99 ms | max ms |
|---|--:|--:|--:|--:|
${latencyRow('upstream read directly', direct)}
${latencyRow('through ratchet', ratchet)}

Added by ratchet: **${ms(ratchet.p50 - direct.p50)} ms at p50, ${ms(ratchet.p99 - direct.p99)} ms at p99**.

**Replay.** A background streamed response of the mock model with ${int(replay.events)} logged events
(${int(replay.deltas)} text deltas, one per word of a \`/reply\`, plus the lifecycle and item events)
streamed live to its creator in ${int(replay.liveMs)} ms. It is then replayed with
\`GET /v1/responses/{id}?stream=true\` from Postgres, timed from the request to \`data: [DONE]\`
at the client (one untimed replay first; ${full.runsMs.length} runs per cursor, median reported).

| replay | events | MB | ms per run | median ms | events/s | MB/s |
|---|--:|--:|--:|--:|--:|--:|
${replayRows.map((row) => `| ${row} |`).join('\n')}

A replay's time grows with the events it sends; the last row is what any replay costs beyond
them (the request, auth, subscribing for live events, the first query). Its few events are
heavy: the closing \`.done\` events and \`response.completed\` each carry the whole text.`;
}

function failoverSection(failover: FailoverResult): string {
  const row = (what: string, l: Summary): string =>
    `| ${what} | ${l.count} | ${int(l.p50)} | ${int(l.p95)} | ${int(l.max)} | ${int(l.mean)} |`;
  return `## f. Failover

${failover.kills} kills. ${failover.workers} worker processes of their own (defaults: RATCHET_STEP_LEASE_MS
30000, RATCHET_LIVENESS_CHECK_MS 500) run background responses whose one tool call never
answers; the bench SIGKILLs the worker running most of them and times, on its own clock, from
the SIGKILL to each of that worker's calls arriving at the tool again (the step's next attempt,
on the other worker, same Idempotency-Key). Then it cancels the round and starts a replacement
worker. The dead worker is found by its liveness session: Postgres frees its lock when the
process's connection closes, and the other worker's next check queues its steps again
(docs/failover.md). Before it, a dead worker's steps waited for their lease: 20 to 36 s (what
was left of the 30 s lease, then up to a sweep interval).

| kill to rerun | n | p50 ms | p95 ms | max ms | mean ms |
|---|--:|--:|--:|--:|--:|
${row('each step the killed worker ran', failover.killToRerun)}
${row('the first of them, per kill', failover.firstPerKill)}`;
}

function scaleoutVerdict(scaleout: ScaleoutResult | null): string {
  const two = scaleout?.steps.find((step) => step.workers === 2);
  if (!scaleout || !two) return '';
  return `
| scale-out >= ${TARGETS.scaleoutSpeedup}x from 1 to 2 worker processes (tools of ${SLOW_TOOL_MS} ms, ${scaleout.concurrency} job slots each) | ${two.speedup.toFixed(2)}x | ${verdict(two.speedup >= TARGETS.scaleoutSpeedup)} |`;
}

function scaleoutSection(scaleout: ScaleoutResult): string {
  const rows = scaleout.steps.map((step) =>
    [
      step.workers,
      step.roundsMs.map((v) => int(v)).join(' / '),
      int(step.stepsPerSecond),
      `${step.speedup.toFixed(2)}x`,
    ].join(' | '),
  );
  return `## g. Scale-out

${scaleout.responses} background responses at once, each model -> 4 parallel calls of a tool
that answers after ${SLOW_TOOL_MS} ms -> model (${scaleout.shape.steps} steps), against one API, with 1, then 2, then 4
worker processes of WORKER_CONCURRENCY ${scaleout.concurrency}: each worker is bounded by its job
slots, as workers calling real tools and models are, rather than by the CPU. It runs on a fresh
database of its own, not the one the workloads above filled. Workers are added
between runs; ${SCALEOUT_ROUNDS.warmup} untimed round after each change, then ${SCALEOUT_ROUNDS.timed} timed, median reported.

| worker processes | wall ms per round | steps/s | over 1 worker |
|--:|--:|--:|--:|
${rows.map((row) => `| ${row} |`).join('\n')}`;
}

function traceSection(trace: TraceResult): string {
  const per = (count: number): string => (count / trace.responses).toFixed(1);
  const perStep = (count: number): string =>
    (count / trace.responses / trace.shape.steps).toFixed(1);
  const processRows = trace.processes.map((p) =>
    [
      p.name,
      per(p.pgRoundTrips),
      per(p.pgTransactions),
      per(p.pgWriteCommits),
      ms(p.pgMs / trace.responses),
      per(p.redisCommands),
    ].join(' | '),
  );
  const sum = (pick: (p: TraceResult['processes'][number]) => number): number =>
    trace.processes.reduce((total, p) => total + pick(p), 0);
  const statementRows = trace.statements.map((s) =>
    [
      s.process,
      `\`${s.text.replace(/\|/g, '\\|')}\``,
      (s.count / trace.responses).toFixed(2),
      ms(s.meanMs),
    ].join(' | '),
  );
  const redisRows = trace.redisCommands.map((c) =>
    [c.process, `\`${c.command}\``, (c.count / trace.responses).toFixed(2)].join(' | '),
  );
  return `## Where a step's time goes

${trace.responses} foreground '${trace.shape.name}' responses (${trace.shape.steps} steps each), one at a
time, through wire taps: TCP proxies between each ratchet process and Postgres or Redis that
count round trips (a Sync or simple Query until its ReadyForQuery) and commands. The taps add
latency (end-to-end p50 through them: ${ms(trace.latencyP50Ms)} ms; a trivial \`SELECT 1\` through a
tap: ${ms(trace.pgFloorMs)} ms), so their times only show proportions.

Per step: **${perStep(sum((p) => p.pgRoundTrips))} Postgres round trips**, ${perStep(sum((p) => p.pgWriteCommits))} commits that write (each a WAL flush),
${perStep(sum((p) => p.redisCommands))} Redis commands and ${perStep(trace.jobs)} BullMQ jobs; the baseline spends 1 round
trip, 1 commit and 1 job.

| process | Postgres round trips / response | transactions / response | write commits / response | Postgres ms / response (tapped) | Redis commands / response |
|---|--:|--:|--:|--:|--:|
${processRows.map((row) => `| ${row} |`).join('\n')}

Postgres statements per response, most frequent first:

| process | statement | per response | mean ms (tapped) |
|---|---|--:|--:|
${statementRows.map((row) => `| ${row} |`).join('\n')}

Redis commands per response (BullMQ scripts by name):

| process | command | per response |
|---|---|--:|
${redisRows.map((row) => `| ${row} |`).join('\n')}`;
}

function method({ options }: BenchResults): string {
  return `## How to run

\`npm run bench\` builds, creates a database \`ratchet_bench_<random>\` on \`BENCH_DATABASE_URL\`
(default \`postgresql://postgres@127.0.0.1:5432/postgres\`), migrates it, starts the API and
worker(s) from \`dist/\` against it and \`BENCH_REDIS_URL\` (default \`redis://127.0.0.1:6379\`)
under a fresh key prefix, runs the workloads, then stops everything, drops the database and
deletes the prefix's keys. \`npm run bench -- --write\` also writes this file.

| variable | this run | |
|---|--:|---|
| BENCH_WORKERS | ${options.workers} | worker processes (ratchet and baseline) |
| BENCH_CONCURRENCY | ${options.concurrency} | jobs per worker process |
| BENCH_WARMUP | ${options.warmup} | untimed responses per latency shape |
| BENCH_REPS | ${options.reps} | timed responses per latency shape |
| BENCH_SHAPE_BUDGET_MS | ${options.shapeBudgetMs} | a latency shape stops after this long, whatever BENCH_REPS says |
| BENCH_CPU_PROFILE_DIR | ${options.cpuProfileDir ?? '(unset)'} | write V8 CPU profiles of the ratchet processes here |
| BENCH_THROUGHPUT_RESPONSES | ${options.throughputResponses} | responses per throughput round |
| BENCH_THROUGHPUT_ROUNDS | ${options.throughputRounds} | timed throughput rounds |
| BENCH_THROUGHPUT_WARMUP_ROUNDS | ${options.throughputWarmupRounds} | untimed throughput rounds before them (ratchet and baseline) |
| BENCH_BASELINE_CHAIN | ${options.baselineChain} | jobs in the baseline's sequential chain |
| BENCH_STREAM_RESPONSES | ${options.streamResponses} | streamed responses timed for delta latency, each way (0: skip streaming) |
| BENCH_STREAM_EVENTS | ${options.streamEvents} | events in the replayed response |
| BENCH_TRACE_RESPONSES | ${options.traceResponses} | responses through the wire taps (0: skip) |
| BENCH_FANOUT_RESPONSES | ${options.fanoutResponses} | fan-out responses at once, for ratchet, the floor and DBOS (0: skip) |
| BENCH_FANOUT_ROUNDS | ${options.fanoutRounds} | timed fan-out bursts of each, interleaved in pairs (ratchet's and the floor's, DBOS's beside) |
| BENCH_FANOUT_WARMUP_ROUNDS | ${options.fanoutWarmupRounds} | untimed fan-out bursts before them |
| BENCH_FANOUT_DBOS | ${options.fanoutDbos ? 1 : 0} | 1: DBOS Transact takes its turns in the fan-out workload too; 0: leave it out |
| BENCH_SCALEOUT_RESPONSES | ${options.scaleoutResponses} | responses per scale-out round (0: skip) |
| BENCH_SCALEOUT_CONCURRENCY | ${options.scaleoutConcurrency} | job slots per worker process in the scale-out workload |
| BENCH_FAILOVER_KILLS | ${options.failoverKills} | workers SIGKILLed in the failover workload (0: skip) |`;
}
