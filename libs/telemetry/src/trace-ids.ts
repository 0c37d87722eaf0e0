import { createHash } from 'node:crypto';

// Span and trace ids that any process derives alike from ratchet's own ids: a response's span
// and an agent step's span are ended by whichever worker finishes them, while the spans of
// their children, on any worker, name them as parents before that.

/** A W3C traceparent's parts. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The trace flags; bit 0 is "sampled". */
  flags: number;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * A `traceparent` header's value, or null when it is not a valid one (W3C Trace Context: a
 * version other than ff, ids not all zero; version 00 has nothing after the flags).
 */
export function parseTraceparent(value: string | null | undefined): TraceParent | null {
  const match = TRACEPARENT.exec((value ?? '').trim().toLowerCase());
  if (!match) return null;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return null;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

export function formatTraceparent({ traceId, spanId, flags }: TraceParent): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** The span id of a response's span. */
export function responseSpanId(responseId: string): string {
  return digest(`span:${responseId}`).slice(0, 16);
}

/** The span id of an agent step's span, which its sub-agent's steps nest under. */
export function agentSpanId(stepId: string): string {
  return digest(`span:${stepId}`).slice(0, 16);
}

/** The trace id of a response created without a traceparent. */
export function responseTraceId(responseId: string): string {
  return digest(`trace:${responseId}`).slice(0, 32);
}

/**
 * The agent step whose sub-agent a scope is, or null for a response's top scope. Scope ids
 * are derived from their owner's id (`scope_<hex>` of `resp_<hex>` or `step_<hex>`).
 */
export function agentStepOfScope(responseId: string, scopeId: string): string | null {
  const hex = scopeId.replace(/^scope_/, '');
  return hex === responseId.replace(/^resp_/, '') ? null : `step_${hex}`;
}
