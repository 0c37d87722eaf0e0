import {
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  RandomIdGenerator,
  TracerProvider,
  type IdGenerator,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import {
  agentSpanId,
  agentStepOfScope,
  parseTraceparent,
  responseSpanId,
  responseTraceId,
} from './trace-ids';
import type {
  EndedResponse,
  ObservedExecution,
  ObservedStep,
  SpanAttributes,
  TraceContextSource,
  Tracing,
  TracingOptions,
} from './tracing';

// Loaded only when traces are on (see tracing.ts).

const RESPONSE_ID = createContextKey('ratchet.response.id');
const STEP_ID = createContextKey('ratchet.step.id');

const UNTRACED_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/** Responses whose traceparent a worker remembers, so each step does not read it again. */
const TRACEPARENT_CACHE = 10_000;

/**
 * Random ids, except for the next span (and trace) id when one is set: the spans of a
 * response and of an agent step have ids every process derives alike (trace-ids.ts), so
 * children on other workers can name them as parents before they end.
 */
class DerivedIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  nextSpanId: string | null = null;
  nextTraceId: string | null = null;

  generateTraceId(): string {
    const id = this.nextTraceId;
    this.nextTraceId = null;
    return id ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    const id = this.nextSpanId;
    this.nextSpanId = null;
    return id ?? this.random.generateSpanId();
  }
}

export class SdkTracing implements Tracing {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly ids = new DerivedIdGenerator();
  private readonly contextManager = new AsyncLocalStorageContextManager();
  private contexts: TraceContextSource | null = null;
  private readonly traceparents = new Map<string, Promise<string | null>>();

  constructor(options: TracingOptions) {
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
      idGenerator: this.ids,
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: options.url }),
          scheduledDelayMillis: options.batchDelayMs ?? 1000,
        }),
      ],
    });
    context.setGlobalContextManager(this.contextManager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(this.provider);
    this.tracer = this.provider.getTracer('ratchet');
  }

  useContexts(source: TraceContextSource): void {
    this.contexts ??= source;
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  }

  async step<T extends ObservedExecution>(
    claimed: ObservedStep,
    model: string | null,
    run: () => Promise<T>,
  ): Promise<T> {
    // An agent call's span is the one its sub-agent ends (agentEnded), with its steps inside.
    if (claimed.step.kind === 'agent_call') return run();
    const parent = await this.scopeParent(claimed.responseId, claimed.scopeId);
    const ctx = trace
      .setSpanContext(ROOT_CONTEXT, parent)
      .setValue(RESPONSE_ID, claimed.responseId)
      .setValue(STEP_ID, claimed.step.id);
    const { step } = claimed;
    const attributes: SpanAttributes = {
      'ratchet.response.id': claimed.responseId,
      'ratchet.step.id': step.id,
      'ratchet.step.kind': step.kind,
      'ratchet.step.attempt': claimed.attempt,
    };
    if (step.kind === 'model_call' && model) attributes['gen_ai.request.model'] = model;
    if (step.name) attributes['ratchet.tool.name'] = step.name;
    const name =
      step.kind === 'model_call' ? `model_call ${model ?? ''}` : `tool_call ${step.name}`;
    return this.tracer.startActiveSpan(name, { attributes }, ctx, async (span) => {
      try {
        const execution = await run();
        if (execution.type === 'finished') {
          const { outcome } = execution;
          span.setAttribute('ratchet.step.outcome', outcome.status);
          if (outcome.status === 'failed') {
            span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error?.code });
          }
        }
        return execution;
      } catch (error) {
        failed(span, error);
        throw error;
      } finally {
        span.end();
      }
    });
  }

  client<T>(name: string, attributes: SpanAttributes, run: () => Promise<T>): Promise<T> {
    return this.tracer.startActiveSpan(
      name,
      { kind: SpanKind.CLIENT, attributes },
      async (span) => {
        try {
          return await run();
        } catch (error) {
          failed(span, error);
          throw error;
        } finally {
          span.end();
        }
      },
    );
  }

  headers(): Record<string, string> {
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    return carrier;
  }

  currentTraceparent(): string | null {
    return this.headers().traceparent ?? null;
  }

  responseEnded(record: EndedResponse): void {
    this.endResponse(record).catch(() => undefined);
  }

  agentEnded(responseId: string, stepId: string, status: string): void {
    this.endAgent(responseId, stepId, status).catch(() => undefined);
  }

  serverRequest(
    request: { method: string; path: string; headers: Record<string, unknown> },
    response: { statusCode: number; once(event: 'close', listener: () => void): unknown },
    next: () => void,
  ): void {
    // Probes and scrapes come every few seconds and say nothing about any response.
    if (UNTRACED_PATHS.has(request.path)) return next();
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const route = request.path.replace(/\/[a-z]+_[0-9a-f]{16,}(?=\/|$)/g, '/{id}');
    const span = this.tracer.startSpan(
      `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.path,
          'http.route': route,
        },
      },
      parent,
    );
    response.once('close', () => {
      span.setAttribute('http.response.status_code', response.statusCode);
      if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  }

  logFields(): Record<string, string> {
    const active = context.active();
    const span = trace.getSpan(active);
    if (!span) return {};
    const { traceId, spanId } = span.spanContext();
    const fields: Record<string, string> = { trace_id: traceId, span_id: spanId };
    const responseId = active.getValue(RESPONSE_ID);
    const stepId = active.getValue(STEP_ID);
    if (typeof responseId === 'string') fields.responseId = responseId;
    if (typeof stepId === 'string') fields.stepId = stepId;
    return fields;
  }

  /** The span a scope's steps nest under: the response's, or their agent step's. */
  private async scopeParent(responseId: string, scopeId: string): Promise<SpanContext> {
    const parent = parseTraceparent(await this.traceparent(responseId));
    const agentStep = agentStepOfScope(responseId, scopeId);
    return {
      traceId: parent?.traceId ?? responseTraceId(responseId),
      spanId: agentStep ? agentSpanId(agentStep) : responseSpanId(responseId),
      traceFlags: parent ? parent.flags : TraceFlags.SAMPLED,
      isRemote: true,
    };
  }

  private async endResponse(record: EndedResponse): Promise<void> {
    const parent = parseTraceparent(await this.traceparent(record.id));
    this.traceparents.delete(record.id);
    const ctx = parent
      ? trace.setSpanContext(ROOT_CONTEXT, {
          traceId: parent.traceId,
          spanId: parent.spanId,
          traceFlags: parent.flags,
          isRemote: true,
        })
      : ROOT_CONTEXT;
    const span = this.derivedSpan(
      'response',
      responseSpanId(record.id),
      parent ? null : responseTraceId(record.id),
      record.createdAt,
      {
        'ratchet.response.id': record.id,
        'ratchet.response.status': record.status,
        'gen_ai.request.model': record.model,
      },
      ctx,
    );
    if (record.status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  private async endAgent(responseId: string, stepId: string, status: string): Promise<void> {
    const step = await this.contexts?.agentStep(responseId, stepId);
    if (!step) return;
    const parent = await this.scopeParent(responseId, step.scopeId);
    const span = this.derivedSpan(
      'agent_call',
      agentSpanId(stepId),
      null,
      step.startedAt,
      {
        'ratchet.response.id': responseId,
        'ratchet.step.id': stepId,
        'ratchet.step.kind': 'agent_call',
        'ratchet.step.outcome': status,
      },
      trace.setSpanContext(ROOT_CONTEXT, parent),
    );
    if (status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  /** A span with the given ids (see DerivedIdGenerator), started in the past. */
  private derivedSpan(
    name: string,
    spanId: string,
    traceId: string | null,
    startTime: Date,
    attributes: SpanAttributes,
    ctx: Context,
  ): Span {
    this.ids.nextSpanId = spanId;
    this.ids.nextTraceId = traceId;
    try {
      return this.tracer.startSpan(name, { startTime, attributes }, ctx);
    } finally {
      this.ids.nextSpanId = null;
      this.ids.nextTraceId = null;
    }
  }

  /** The traceparent stored with a response, read once per process while it runs. */
  private traceparent(responseId: string): Promise<string | null> {
    const contexts = this.contexts;
    if (!contexts) return Promise.resolve(null);
    let known = this.traceparents.get(responseId);
    if (!known) {
      if (this.traceparents.size >= TRACEPARENT_CACHE) {
        const oldest = this.traceparents.keys().next().value;
        if (oldest !== undefined) this.traceparents.delete(oldest);
      }
      known = contexts.traceparent(responseId);
      this.traceparents.set(responseId, known);
      known.catch(() => this.traceparents.delete(responseId));
    }
    return known;
  }
}

function failed(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
}
