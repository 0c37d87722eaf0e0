// Everything the benchmark can be tuned with, read once from the environment and argv. The
// defaults keep a whole run under about three minutes on the 2-core reference machine.

export interface BenchOptions {
  /** A Postgres server URL; the bench creates (and drops) its own database on it. */
  serverUrl: string;
  redisUrl: string;
  /** Worker processes for ratchet, and for the baseline, so both get the same CPU share. */
  workers: number;
  /** Jobs per worker process, for ratchet (WORKER_CONCURRENCY) and the baseline alike. */
  concurrency: number;
  /** Untimed responses before each latency shape. */
  warmup: number;
  /** Timed responses per latency shape. */
  reps: number;
  /** Longest time one latency shape may take; slow shapes stop before `reps`. */
  shapeBudgetMs: number;
  /** Background responses submitted at once in the throughput workload. */
  throughputResponses: number;
  /** How many times the throughput workload is repeated; the median is reported. */
  throughputRounds: number;
  /** Untimed rounds before them, for ratchet and the baseline alike. */
  throughputWarmupRounds: number;
  /** Jobs in the baseline's sequential chain. */
  baselineChain: number;
  /** Responses traced through the wire taps (0 skips the diagnostic pass). */
  traceResponses: number;
  /** Timed streamed responses for the delta latency (0 skips the streaming workload). */
  streamResponses: number;
  /** Events in the response the streaming workload replays. */
  streamEvents: number;
  /** Fan-out responses (model -> 4 tools -> model) submitted at once (0 skips the workload). */
  fanoutResponses: number;
  /** Timed bursts of them, and untimed ones before, for ratchet and the floor alike. */
  fanoutRounds: number;
  fanoutWarmupRounds: number;
  /** Whether DBOS Transact, a peer, takes its turns in the fan-out workload too. */
  fanoutDbos: boolean;
  /**
   * Background fan-out responses of slow tools per scale-out round (0 skips the workload):
   * enough that a round of 4 workers (32 slots) spends most of its time with every slot busy,
   * not ramping up or draining (with 200, those cost a 4-worker round about a sixth).
   */
  scaleoutResponses: number;
  /** Job slots per worker process in the scale-out workload: what bounds a worker there. */
  scaleoutConcurrency: number;
  /** Workers SIGKILLed in the failover workload (0 skips it). */
  failoverKills: number;
  /** Directory for V8 CPU profiles of the ratchet processes (BENCH_CPU_PROFILE_DIR). */
  cpuProfileDir: string | undefined;
  /** Write docs/benchmarks.md as well as printing. */
  write: boolean;
}

function positiveInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got '${raw}'`);
  }
  return value;
}

function flag(name: string, fallback: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (raw === '1' || raw === '0') return raw === '1';
  throw new Error(`${name} must be 1 or 0, got '${raw}'`);
}

export function readOptions(argv: readonly string[]): BenchOptions {
  const unknown = argv.filter((arg) => arg !== '--write');
  if (unknown.length > 0) throw new Error(`unknown argument(s): ${unknown.join(' ')}`);
  return {
    serverUrl: process.env.BENCH_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres',
    redisUrl: process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
    workers: positiveInt('BENCH_WORKERS', 1),
    concurrency: positiveInt('BENCH_CONCURRENCY', 64),
    warmup: positiveInt('BENCH_WARMUP', 20, 0),
    reps: positiveInt('BENCH_REPS', 200),
    shapeBudgetMs: positiveInt('BENCH_SHAPE_BUDGET_MS', 12_000),
    throughputResponses: positiveInt('BENCH_THROUGHPUT_RESPONSES', 300),
    throughputRounds: positiveInt('BENCH_THROUGHPUT_ROUNDS', 5),
    throughputWarmupRounds: positiveInt('BENCH_THROUGHPUT_WARMUP_ROUNDS', 1, 0),
    baselineChain: positiveInt('BENCH_BASELINE_CHAIN', 1000, 2),
    traceResponses: positiveInt('BENCH_TRACE_RESPONSES', 50, 0),
    streamResponses: positiveInt('BENCH_STREAM_RESPONSES', 20, 0),
    streamEvents: positiveInt('BENCH_STREAM_EVENTS', 10_000, 100),
    fanoutResponses: positiveInt('BENCH_FANOUT_RESPONSES', 2000, 0),
    fanoutRounds: positiveInt('BENCH_FANOUT_ROUNDS', 5),
    fanoutWarmupRounds: positiveInt('BENCH_FANOUT_WARMUP_ROUNDS', 1, 0),
    fanoutDbos: flag('BENCH_FANOUT_DBOS', true),
    failoverKills: positiveInt('BENCH_FAILOVER_KILLS', 20, 0),
    scaleoutResponses: positiveInt('BENCH_SCALEOUT_RESPONSES', 400, 0),
    scaleoutConcurrency: positiveInt('BENCH_SCALEOUT_CONCURRENCY', 8),
    cpuProfileDir: process.env.BENCH_CPU_PROFILE_DIR || undefined,
    write: argv.includes('--write'),
  };
}
