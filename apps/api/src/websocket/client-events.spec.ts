import { RatchetError } from '@ratchet/core';
import { parseResponseCreate } from './client-events';

const text = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

function refusal(data: Buffer, isBinary = false): RatchetError {
  try {
    parseResponseCreate(data, isBinary);
  } catch (error) {
    if (error instanceof RatchetError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseResponseCreate', () => {
  it('turns a response.create message into a streamed create body', () => {
    expect(
      parseResponseCreate(text({ type: 'response.create', model: 'm', input: 'hi' }), false),
    ).toEqual({ model: 'm', input: 'hi', stream: true });
  });

  it('reads messages that arrive in fragments', () => {
    const whole = text({ type: 'response.create', model: 'm' });
    const parts = [whole.subarray(0, 5), whole.subarray(5)];
    expect(parseResponseCreate(parts, false)).toEqual({ model: 'm', stream: true });
  });

  it.each([
    [Buffer.from('{not json'), null, 'invalid_json'],
    [text([1, 2]), null, 'invalid_message'],
    [text({ model: 'm' }), 'type', 'missing_required_parameter'],
    [text({ type: 'response.cancel' }), 'type', 'invalid_value'],
    [
      text({ type: 'response.create', model: 'm', stream: true }),
      'stream',
      'unsupported_parameter',
    ],
    [
      text({ type: 'response.create', model: 'm', background: false }),
      'background',
      'unsupported_parameter',
    ],
  ])('refuses %s naming %s', (data, param, code) => {
    const error = refusal(data);
    expect(error.kind).toBe('invalid_request');
    expect(error.param).toBe(param);
    expect(error.code).toBe(code);
  });

  it('refuses binary frames', () => {
    expect(refusal(text({ type: 'response.create' }), true).code).toBe('invalid_message');
  });

  it('refuses nesting deeper than any body may have, wherever it is, naming where', () => {
    const deep = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
    const inType = refusal(Buffer.from(`{"type":${deep},"model":"mock"}`));
    expect(inType.code).toBe('invalid_value');
    expect(inType.param).toMatch(/^type(\.a)+$/);
    const inInput = refusal(Buffer.from(`{"type":"response.create","input":${deep}}`));
    expect(inInput.param).toMatch(/^input(\.a)+$/);
  });

  it('names a type that is not a string without printing it', () => {
    const error = refusal(text({ type: { a: [1, 2, 3] } }));
    expect(error.param).toBe('type');
    expect(error.message).toContain("'type': an object");
  });
});
