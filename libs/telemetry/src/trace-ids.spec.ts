import {
  agentSpanId,
  agentStepOfScope,
  formatTraceparent,
  parseTraceparent,
  responseSpanId,
  responseTraceId,
} from './trace-ids';

describe('parseTraceparent', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';

  it('reads a version 00 header, whatever its case and surrounding space', () => {
    expect(parseTraceparent(` 00-${traceId.toUpperCase()}-${spanId}-01 `)).toEqual({
      traceId,
      spanId,
      flags: 1,
    });
    expect(parseTraceparent(`00-${traceId}-${spanId}-00`)?.flags).toBe(0);
  });

  it('reads a later version, ignoring what follows the flags', () => {
    expect(parseTraceparent(`01-${traceId}-${spanId}-01-extra`)?.traceId).toBe(traceId);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['version ff', `ff-${traceId}-${spanId}-01`],
    ['version 00 with more', `00-${traceId}-${spanId}-01-extra`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${spanId}-01`],
    ['all-zero span id', `00-${traceId}-${'0'.repeat(16)}-01`],
    ['short trace id', `00-${traceId.slice(1)}-${spanId}-01`],
    ['not hex', `00-${'g'.repeat(32)}-${spanId}-01`],
  ])('refuses a header that is %s', (_, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('writes back what it read', () => {
    const value = `00-${traceId}-${spanId}-01`;
    expect(formatTraceparent(parseTraceparent(value)!)).toBe(value);
  });
});

describe('derived ids', () => {
  const responseId = 'resp_' + 'ab'.repeat(24);
  const stepId = 'step_' + 'cd'.repeat(24);

  it('are the same in every process, and of the W3C sizes', () => {
    expect(responseSpanId(responseId)).toBe(responseSpanId(responseId));
    expect(responseSpanId(responseId)).toMatch(/^[0-9a-f]{16}$/);
    expect(agentSpanId(stepId)).toMatch(/^[0-9a-f]{16}$/);
    expect(responseTraceId(responseId)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('differ between a response and a step, and between responses', () => {
    expect(agentSpanId(stepId)).not.toBe(responseSpanId(responseId));
    expect(responseSpanId('resp_' + 'ef'.repeat(24))).not.toBe(responseSpanId(responseId));
  });

  it('tell a top scope from an agent step scope', () => {
    expect(agentStepOfScope(responseId, 'scope_' + 'ab'.repeat(24))).toBeNull();
    expect(agentStepOfScope(responseId, 'scope_' + 'cd'.repeat(24))).toBe(stepId);
  });
});
