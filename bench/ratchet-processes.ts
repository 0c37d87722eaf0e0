import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../apps/dev/src/free-port';
import {
  MEMORY_ENV,
  NODE_MEMORY_ARGS,
  STEPS_NODE_MEMORY_ARGS,
} from '../libs/config/src/memory-profile';
import type { NamedPid } from './cpu';
import { UPSTREAM_MODEL } from './stream-upstream';
import { pollUntil } from './waits';

// ratchet as deployments run it: separate API and worker processes from the build, configured
// only through the environment and a YAML file.

/** The repository root, from dist/bench/ once compiled. */
export const repoRoot = path.resolve(__dirname, '..', '..');

const API_SCRIPT = 'dist/apps/api/main.js';
const WORKER_SCRIPT = 'dist/apps/worker/main.js';
/** What a worker prints once its BullMQ worker runs (it has no HTTP endpoint to probe). */
const WORKER_READY_LINE = 'ratchet worker: processing jobs';
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
/** Keep only the tail of a process's output: enough to explain a failure. */
const OUTPUT_TAIL_CHARS = 16_000;

export interface RatchetSettings {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  /** Where the `noop` tool lives. */
  noopUrl: string;
  /** The fake streaming upstream's API root; adds the `streamer` model when set. */
  streamUpstreamUrl?: string;
  /** Where the `hang` tool lives (it never answers); adds the tool when set. */
  hangUrl?: string;
  /** Where the `slow` tool lives (it answers after a while); adds the tool when set. */
  slowUrl?: string;
  workers: number;
  concurrency: number;
  /** Write V8 CPU profiles of every process into this directory (`--cpu-prof`). */
  cpuProfileDir?: string;
  /** The worker's Postgres and Redis URLs, when they differ (the wire taps sit in between). */
  workerDatabaseUrl?: string;
  workerRedisUrl?: string;
  /** Run the build of another checkout (its dist/), for A/B runs; this one by default. */
  root?: string;
  /** Node arguments for every process instead of the memory profile's (its young generation). */
  nodeArgs?: readonly string[];
}

export interface RatchetProcesses {
  baseUrl: string;
  adminKey: string;
  /** Throws when a process has died, with its last output. */
  assertAlive(): void;
  /** The API as `api`, every worker as `worker`. */
  pids(): NamedPid[];
  /** Where each process serves its Prometheus metrics, with the headers to read them. */
  metricsEndpoints(): MetricsEndpoint[];
  /** Starts one more worker; resolves with its pid once it takes jobs. */
  addWorker(): Promise<number>;
  /** SIGKILLs the worker with this pid and resolves once it is gone. */
  killWorker(pid: number): Promise<void>;
  stop(): Promise<void>;
}

export interface MetricsEndpoint {
  name: 'api' | 'worker';
  url: string;
  headers: Record<string, string>;
}

/**
 * The config the workloads need: the instant `mock` model, the `noop` http tool, and a `chain`
 * agent that may call itself, so one response can nest agents to script long sequential
 * chains (the mock answers with text right after a tool round, so a single scope has at most
 * one tool round). Limits are raised only where the longest shape would hit them. With
 * `streamUpstreamUrl`, also the `streamer` model: openai-chat against the bench's fake
 * streaming upstream (bench/stream-upstream.ts).
 */
export function benchConfigYaml(
  noopUrl: string,
  streamUpstreamUrl?: string,
  hangUrl?: string,
  slowUrl?: string,
): string {
  const streamer = streamUpstreamUrl
    ? `  streamer:
    provider: openai-chat
    baseUrl: ${streamUpstreamUrl}
    apiKey: bench
    upstreamModel: ${UPSTREAM_MODEL}
    timeoutMs: 30000
`
    : '';
  const hang = hangUrl
    ? `  hang:
    type: http
    url: ${hangUrl}
    description: Never answers
    timeoutMs: 600000
`
    : '';
  const slow = slowUrl
    ? `  slow:
    type: http
    url: ${slowUrl}
    description: Answers after a while
    timeoutMs: 10000
`
    : '';
  return `models:
  mock:
    provider: mock
${streamer}tools:
  noop:
    type: http
    url: ${noopUrl}
    description: Does nothing, at once
    timeoutMs: 10000
${hang}${slow}  chain:
    type: agent
    model: mock
    description: Runs the task as a sub-agent
    tools: [chain, noop]
limits:
  maxDepth: 64
  maxIterations: 16
  maxSteps: 10000
`;
}

export async function startRatchet(settings: RatchetSettings): Promise<RatchetProcesses> {
  const configDir = mkdtempSync(path.join(tmpdir(), 'ratchet-bench-'));
  const configPath = path.join(configDir, 'ratchet.yaml');
  writeFileSync(
    configPath,
    benchConfigYaml(
      settings.noopUrl,
      settings.streamUpstreamUrl,
      settings.hangUrl,
      settings.slowUrl,
    ),
  );
  const adminKey = `bench-admin-${randomBytes(16).toString('hex')}`;
  const port = await freePort();
  const common = {
    REDIS_URL: settings.redisUrl,
    RATCHET_CONFIG: configPath,
    RATCHET_ADMIN_KEY: adminKey,
    RATCHET_REDIS_PREFIX: settings.redisPrefix,
    LOG_LEVEL: 'warn',
    WORKER_CONCURRENCY: String(settings.concurrency),
    // Stop quickly at the end: nothing is running by then, and a stuck job is a bench bug.
    RATCHET_SHUTDOWN_TIMEOUT_MS: '3000',
    // As `npm run start:api` and `start:worker` run them.
    ...MEMORY_ENV,
  };
  const root = settings.root ?? repoRoot;
  // As the npm scripts start each (libs/config/src/memory-profile.ts), unless told otherwise.
  const argsOf = (memoryArgs: readonly string[]): string[] => [
    ...(settings.nodeArgs ?? memoryArgs),
    ...(settings.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfileDir}`] : []),
  ];
  const processes: ServiceProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(processes.map((service) => service.stop()));
    rmSync(configDir, { recursive: true, force: true });
  };
  try {
    processes.push(
      startProcess(root, 'api', 'api', API_SCRIPT, argsOf(NODE_MEMORY_ARGS), null, {
        ...common,
        DATABASE_URL: settings.databaseUrl,
        PORT: String(port),
      }),
    );
    let workerCount = 0;
    const workerMetricsPorts = new Map<ServiceProcess, number>();
    const startWorker = async (): Promise<ServiceProcess> => {
      const metricsPort = await freePort();
      const worker = startProcess(
        root,
        'worker',
        `worker ${++workerCount}`,
        WORKER_SCRIPT,
        argsOf(STEPS_NODE_MEMORY_ARGS),
        WORKER_READY_LINE,
        {
          ...common,
          DATABASE_URL: settings.workerDatabaseUrl ?? settings.databaseUrl,
          REDIS_URL: settings.workerRedisUrl ?? settings.redisUrl,
          RATCHET_METRICS_PORT: String(metricsPort),
        },
      );
      processes.push(worker);
      workerMetricsPorts.set(worker, metricsPort);
      return worker;
    };
    for (let i = 0; i < settings.workers; i++) await startWorker();
    const baseUrl = `http://127.0.0.1:${port}`;
    const assertAlive = (): void => processes.forEach((service) => service.assertAlive());
    await pollUntil(
      'ratchet /readyz and workers',
      async () => {
        assertAlive();
        if (!processes.every((service) => service.ready())) return null;
        const ready = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
          (response) => response.ok,
          () => false,
        );
        return ready ? true : null;
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100 },
    );
    const pids = (): NamedPid[] =>
      processes.map((service) => ({ name: service.role, pid: service.pid }));
    const metricsEndpoints = (): MetricsEndpoint[] =>
      processes.map((service): MetricsEndpoint =>
        service.role === 'api'
          ? {
              name: 'api',
              url: `${baseUrl}/metrics`,
              headers: { authorization: `Bearer ${adminKey}` },
            }
          : {
              name: 'worker',
              url: `http://127.0.0.1:${workerMetricsPorts.get(service)}/metrics`,
              headers: {},
            },
      );
    const addWorker = async (): Promise<number> => {
      const worker = await startWorker();
      await pollUntil(
        'a new worker',
        () => {
          worker.assertAlive();
          return Promise.resolve(worker.ready() ? true : null);
        },
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 50 },
      );
      return worker.pid;
    };
    const killWorker = async (pid: number): Promise<void> => {
      const worker = processes.find((service) => service.role === 'worker' && service.pid === pid);
      if (!worker) throw new Error(`no worker with pid ${pid}`);
      processes.splice(processes.indexOf(worker), 1);
      workerMetricsPorts.delete(worker);
      await worker.kill();
    };
    return {
      baseUrl,
      adminKey,
      assertAlive,
      pids,
      metricsEndpoints,
      addWorker,
      killWorker,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface ServiceProcess {
  role: 'api' | 'worker';
  pid: number;
  /** Whether the process printed its ready line (always true when it has none). */
  ready(): boolean;
  assertAlive(): void;
  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  stop(): Promise<void>;
  /** SIGKILL at once; resolves once it has exited. */
  kill(): Promise<void>;
}

function startProcess(
  root: string,
  role: ServiceProcess['role'],
  name: string,
  script: string,
  nodeArgs: string[],
  readyLine: string | null,
  env: Record<string, string>,
): ServiceProcess {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, path.join(root, script)], {
    cwd: root,
    // Only what ratchet is documented to read, so the parent's environment cannot skew a run.
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let ready = readyLine === null;
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    ready ||= readyLine !== null && output.includes(readyLine);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    role,
    pid: child.pid ?? -1,
    ready: () => ready,
    assertAlive: () => {
      if (!running()) {
        throw new Error(
          `ratchet ${name} exited (${child.exitCode ?? child.signalCode}):\n${output}`,
        );
      }
    },
    stop: async () => {
      if (!running()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
    kill: async () => {
      if (!running()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A port nobody listens on right now (the OS picks it). */
