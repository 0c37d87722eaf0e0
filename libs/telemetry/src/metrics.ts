import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MetricLabels } from './metric-labels';

/** What a process has running now, read when metrics are scraped (nothing on the hot path). */
export interface InFlightSource {
  steps(): number;
  responses(): number;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const SHORT_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const WAIT_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LONG_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600];

/**
 * Every metric a ratchet process exports, in one registry: a process that runs the API and a
 * worker together serves both at one /metrics. Label values for models and tools go through
 * `labels`, which the config bounds.
 */
export class RatchetMetrics {
  readonly registry = new Registry();
  labels = new MetricLabels(null);
  private readonly inFlight = new Set<InFlightSource>();
  private defaultsStarted = false;

  readonly stepDuration = new Histogram({
    name: 'ratchet_step_duration_seconds',
    help: 'Time one run of a step took on a worker, by kind, model (model calls), tool (tool and agent calls) and outcome. An agent call is measured until its sub-agent is started (outcome "delegated").',
    labelNames: ['kind', 'model', 'tool', 'outcome'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });

  readonly queueWait = new Histogram({
    name: 'ratchet_queue_wait_seconds',
    help: 'Time a job waited in the queue, from being queued (a step dispatched, a scope to decide) to a worker taking it.',
    labelNames: ['job'] as const,
    buckets: WAIT_SECONDS,
    registers: [this.registry],
  });

  readonly responses = new Counter({
    name: 'ratchet_responses_total',
    help: 'Responses that ended, by terminal status.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly responseDuration = new Histogram({
    name: 'ratchet_response_duration_seconds',
    help: 'Time from a response being created to its end, by terminal status.',
    labelNames: ['status'] as const,
    buckets: LONG_SECONDS,
    registers: [this.registry],
  });

  readonly upstreamCalls = new Counter({
    name: 'ratchet_upstream_calls_total',
    help: 'Calls to upstream models (each attempt, fallbacks included), by provider, model and status: "ok" or the error code.',
    labelNames: ['provider', 'model', 'status'] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: 'ratchet_upstream_call_duration_seconds',
    help: 'Time one upstream model call took, streaming included, by provider and model.',
    labelNames: ['provider', 'model'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });

  readonly upstreamRetries = new Counter({
    name: 'ratchet_upstream_retries_total',
    help: 'Upstream model calls that were retries of a failed call to the same model.',
    labelNames: ['provider', 'model'] as const,
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'ratchet_tokens_total',
    help: 'Tokens of model calls (sub-agents included) by model and direction (input, output).',
    labelNames: ['model', 'direction'] as const,
    registers: [this.registry],
  });

  readonly leaseTakeovers = new Counter({
    name: 'ratchet_lease_takeovers_total',
    help: 'Running steps taken from their worker to run again: its liveness session ended (dead_worker) or it stopped renewing the lease (lease_expired).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly sweeperRequeues = new Counter({
    name: 'ratchet_sweeper_requeues_total',
    help: 'Work the sweeper found nobody doing and queued again: steps to run and scopes to decide.',
    labelNames: ['what'] as const,
    registers: [this.registry],
  });

  readonly eventLogWrite = new Histogram({
    name: 'ratchet_event_log_write_seconds',
    help: 'Time one write to the event log took (persisting in Postgres, then publishing), by operation.',
    labelNames: ['operation'] as const,
    buckets: SHORT_SECONDS,
    registers: [this.registry],
  });

  readonly sseClients = new Gauge({
    name: 'ratchet_sse_clients',
    help: 'Server-sent event streams open on this process.',
    registers: [this.registry],
  });

  constructor() {
    const inFlight = this.inFlight;
    new Gauge({
      name: 'ratchet_steps_in_flight',
      help: 'Steps running on this process now.',
      registers: [this.registry],
      collect() {
        let count = 0;
        for (const source of inFlight) count += source.steps();
        this.set(count);
      },
    });
    new Gauge({
      name: 'ratchet_responses_in_flight',
      help: 'Responses with a step running on this process now.',
      registers: [this.registry],
      collect() {
        let count = 0;
        for (const source of inFlight) count += source.responses();
        this.set(count);
      },
    });
  }

  /** Starts the process metrics (memory, CPU, event loop lag, GC) once. */
  startDefaultMetrics(): void {
    if (this.defaultsStarted) return;
    this.defaultsStarted = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts what `source` runs in the in-flight gauges until the returned function is called. */
  watchInFlight(source: InFlightSource): () => void {
    this.inFlight.add(source);
    return () => this.inFlight.delete(source);
  }

  /** The text exposition format, for a scrape. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The process's metrics: one registry per process, whatever apps it runs. */
export const metrics = new RatchetMetrics();
