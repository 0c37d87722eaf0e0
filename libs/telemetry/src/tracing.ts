import type { ResponseRecord, StepKind, Usage } from '@ratchet/core';
import { formatTraceparent, parseTraceparent } from './trace-ids';

// Traces are off unless an OTLP endpoint is configured; then `startTracing` loads the
// OpenTelemetry SDK (tracing-sdk.ts) and every hook below goes through it. Off, the SDK is
// never loaded and each hook is a null check.

/** A step as the engine claimed it. */
export interface ObservedStep {
  responseId: string;
  scopeId: string;
  attempt: number;
  step: { id: string; kind: StepKind; name: string | null };
}

/** What a step run came to (the worker's Execution has this shape). */
export type ObservedExecution =
  | {
      type: 'finished';
      outcome: { status: string; usage?: Usage | null; error?: { code: string } | null };
    }
  | { type: 'delegated' };

export type EndedResponse = Pick<ResponseRecord, 'id' | 'status' | 'model' | 'createdAt'>;

/** Where traces read what a response's work joins (the store, when tracing is on). */
export interface TraceContextSource {
  traceparent(responseId: string): Promise<string | null>;
  agentStep(
    responseId: string,
    stepId: string,
  ): Promise<{ scopeId: string; startedAt: Date } | null>;
}

/** Span attributes. */
export type SpanAttributes = Record<string, string | number | boolean>;

/** What the SDK side implements (see tracing-sdk.ts). */
export interface Tracing {
  step<T extends ObservedExecution>(
    claimed: ObservedStep,
    model: string | null,
    run: () => Promise<T>,
  ): Promise<T>;
  client<T>(name: string, attributes: SpanAttributes, run: () => Promise<T>): Promise<T>;
  headers(): Record<string, string>;
  responseEnded(record: EndedResponse): void;
  agentEnded(responseId: string, stepId: string, status: string): void;
  serverRequest(
    request: { method: string; path: string; headers: Record<string, unknown> },
    response: { statusCode: number; once(event: 'close', listener: () => void): unknown },
    next: () => void,
  ): void;
  currentTraceparent(): string | null;
  logFields(): Record<string, string>;
  useContexts(source: TraceContextSource): void;
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** The OTLP/HTTP traces endpoint (…/v1/traces). */
  url: string;
  serviceName: string;
  /** How long spans wait to be sent together. */
  batchDelayMs?: number;
}

let active: Tracing | null = null;
const NO_FIELDS: Record<string, string> = Object.freeze({});

/** The tracing in force, or null when traces are off. */
export function tracing(): Tracing | null {
  return active;
}

/**
 * The OTLP/HTTP traces URL the standard variables give: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as
 * it is, or OTEL_EXPORTER_OTLP_ENDPOINT with `/v1/traces` added. Undefined: traces are off.
 */
export function tracesUrl(env: {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;
}): string | undefined {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
}

/**
 * Starts exporting traces to `options.url` (nothing when it is undefined); returns the text a
 * process adds to its start-up line.
 */
export async function startTracing(
  options: Omit<TracingOptions, 'url'> & { url: string | undefined },
): Promise<string> {
  if (!options.url || active) return '';
  const { SdkTracing } = await import('./tracing-sdk.js');
  active = new SdkTracing({ ...options, url: options.url });
  return `; traces to ${options.url}`;
}

/** Sends the spans not sent yet and stops tracing (at shutdown). */
export async function stopTracing(): Promise<void> {
  const current = active;
  active = null;
  await current?.shutdown();
}

/** Where the store's trace context is read from (called by each app once it is built). */
export function useTraceContexts(source: TraceContextSource): void {
  active?.useContexts(source);
}

/** Headers that carry the current trace to an HTTP call (none when traces are off). */
export function traceHeaders(): Record<string, string> {
  return active ? active.headers() : NO_FIELDS;
}

/** Runs an outgoing HTTP call (a tool's, an MCP server's) in a client span of its own. */
export function traceHttpCall<T>(
  name: string,
  attributes: SpanAttributes,
  run: () => Promise<T>,
): Promise<T> {
  return active ? active.client(name, attributes, run) : run();
}

/** An agent step's sub-agent ended: its span, which the sub-agent's steps nest under, ends. */
export function agentEnded(responseId: string, stepId: string, status: string): void {
  active?.agentEnded(responseId, stepId, status);
}

/**
 * The traceparent to store with a new response: the API's own request span when tracing is
 * on, else the client's `traceparent` header when it is a valid one.
 */
export function traceparentToStore(header: string | string[] | undefined): string | null {
  if (active) return active.currentTraceparent();
  const parsed = parseTraceparent(typeof header === 'string' ? header : undefined);
  return parsed ? formatTraceparent(parsed) : null;
}

/**
 * Express middleware: a server span for each API request, the client's `traceparent` its
 * parent; passes straight through when traces are off.
 */
export function traceRequests(
  request: { method: string; path: string; headers: Record<string, unknown> },
  response: { statusCode: number; once(event: 'close', listener: () => void): unknown },
  next: () => void,
): void {
  if (active) active.serverRequest(request, response, next);
  else next();
}

/**
 * Fields for each log line: the trace and span, and the response and step being run. A new
 * object each time: pino's mixin merges the line's own fields into it.
 */
export function logFields(): Record<string, string> {
  return active ? active.logFields() : {};
}
