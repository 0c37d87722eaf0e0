import type { RatchetConfig } from '@ratchet/config';
import type { Usage } from '@ratchet/core';
import { MetricLabels } from './metric-labels';
import { metrics, type InFlightSource } from './metrics';
import { tracing, type EndedResponse, type ObservedExecution, type ObservedStep } from './tracing';

// The one-line hooks the apps and libraries call. Each observes what it is told into the
// process's metrics; none allocates beyond the label set of the observation.

/** Bounds the metrics' model and tool labels by `config`, and starts the process metrics. */
export function configureTelemetry(config: Pick<RatchetConfig, 'models' | 'tools'>): void {
  metrics.labels = new MetricLabels(config);
  metrics.startDefaultMetrics();
}

/**
 * Runs one step, observing its duration by kind, model (`model`: the scope's, for a model
 * call) and tool, and the tokens a model call used; in a span of its own when tracing is on.
 */
export function observeStep<T extends ObservedExecution>(
  claimed: ObservedStep,
  model: string | null,
  run: () => Promise<T>,
): Promise<T> {
  const traces = tracing();
  return traces
    ? traces.step(claimed, model, () => measureStep(claimed, model, run))
    : measureStep(claimed, model, run);
}

async function measureStep<T extends ObservedExecution>(
  claimed: ObservedStep,
  model: string | null,
  run: () => Promise<T>,
): Promise<T> {
  const started = performance.now();
  let outcome = 'error';
  try {
    const execution = await run();
    if (execution.type === 'finished') {
      outcome = execution.outcome.status;
      const usage = execution.outcome.usage;
      if (usage && claimed.step.kind === 'model_call') countTokens(model, usage);
    } else {
      outcome = 'delegated';
    }
    return execution;
  } finally {
    const { labels } = metrics;
    const isModel = claimed.step.kind === 'model_call';
    metrics.stepDuration.observe(
      {
        kind: claimed.step.kind,
        model: isModel ? labels.model(model) : '',
        tool: isModel ? '' : labels.tool(claimed.step.name),
        outcome,
      },
      (performance.now() - started) / 1000,
    );
  }
}

function countTokens(model: string | null, usage: Usage): void {
  const label = metrics.labels.model(model);
  if (usage.input_tokens > 0) {
    metrics.tokens.inc({ model: label, direction: 'input' }, usage.input_tokens);
  }
  if (usage.output_tokens > 0) {
    metrics.tokens.inc({ model: label, direction: 'output' }, usage.output_tokens);
  }
}

/** A worker took a job that was queued at `queuedAt` (epoch milliseconds). */
export function observeQueueWait(job: string, queuedAt: number | undefined): void {
  if (!queuedAt) return;
  metrics.queueWait.observe({ job }, Math.max(0, Date.now() - queuedAt) / 1000);
}

/** A response reached its terminal state (recorded by whoever ended it, once). */
export function responseEnded(record: EndedResponse): void {
  tracing()?.responseEnded(record);
  metrics.responses.inc({ status: record.status });
  metrics.responseDuration.observe(
    { status: record.status },
    Math.max(0, Date.now() - record.createdAt.getTime()) / 1000,
  );
}

/**
 * One call to an upstream model (`model`: its configured name), attempt `attempt` of that
 * model (1 for the first call); in a client span when tracing is on, whose context the
 * provider's request carries as its `traceparent`.
 */
export function observeUpstreamCall<T>(
  model: string,
  attempt: number,
  call: () => Promise<T>,
): Promise<T> {
  const traces = tracing();
  if (!traces) return measureUpstreamCall(model, attempt, call);
  const attributes = {
    'gen_ai.request.model': model,
    'gen_ai.provider.name': metrics.labels.provider(model),
    'ratchet.attempt': attempt,
  };
  return traces.client(`upstream ${model}`, attributes, () =>
    measureUpstreamCall(model, attempt, call),
  );
}

async function measureUpstreamCall<T>(
  model: string,
  attempt: number,
  call: () => Promise<T>,
): Promise<T> {
  const { labels } = metrics;
  const modelLabel = labels.model(model);
  const provider = labels.provider(model);
  if (attempt > 1) metrics.upstreamRetries.inc({ provider, model: modelLabel });
  const started = performance.now();
  let status = 'ok';
  try {
    return await call();
  } catch (error) {
    status = errorCode(error);
    throw error;
  } finally {
    metrics.upstreamCalls.inc({ provider, model: modelLabel, status });
    metrics.upstreamDuration.observe(
      { provider, model: modelLabel },
      (performance.now() - started) / 1000,
    );
  }
}

/** An upstream failure's label: its error code (UpstreamError's), or why it stopped. */
function errorCode(error: unknown): string {
  if (error instanceof Error && error.name === 'AbortError') return 'aborted';
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? code : 'error';
}

/** One write to the event log; `started` is `performance.now()` before it. */
export function observeEventLogWrite(operation: string, started: number): void {
  metrics.eventLogWrite.observe({ operation }, (performance.now() - started) / 1000);
}

/** A server-sent event stream opened on `response`; it counts until the response closes. */
export function trackSseClient(response: {
  once(event: 'close', listener: () => void): unknown;
}): void {
  metrics.sseClients.inc();
  response.once('close', () => metrics.sseClients.dec());
}

/** Running steps taken from their worker to run again. */
export function leaseTakeovers(reason: 'dead_worker' | 'lease_expired', count: number): void {
  if (count > 0) metrics.leaseTakeovers.inc({ reason }, count);
}

/** Work the sweeper queued again. */
export function sweeperRequeues(what: 'step' | 'scope', count: number): void {
  if (count > 0) metrics.sweeperRequeues.inc({ what }, count);
}

/** Counts a process's running steps and responses in the in-flight gauges. */
export function watchInFlight(source: InFlightSource): () => void {
  return metrics.watchInFlight(source);
}
