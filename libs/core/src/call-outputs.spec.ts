import { unpairedOutputIndex } from './call-outputs';
import type { Item } from './items';

const call = (callId: string): Item => ({
  type: 'function_call',
  id: `fc_${callId}`,
  call_id: callId,
  name: 'lookup',
  arguments: '{}',
  status: 'completed',
});
const output = (callId: string): Item => ({
  type: 'function_call_output',
  id: `fco_${callId}`,
  call_id: callId,
  output: 'ok',
  status: 'completed',
});
const user: Item = {
  type: 'message',
  id: 'msg_1',
  role: 'user',
  status: 'completed',
  content: [{ type: 'input_text', text: 'hi' }],
};

describe('unpairedOutputIndex', () => {
  it('accepts input without outputs', () => {
    expect(unpairedOutputIndex([], [user])).toBe(-1);
  });

  it('pairs an output with a call of the conversation it continues', () => {
    expect(unpairedOutputIndex([user, call('a')], [output('a')])).toBe(-1);
  });

  it('pairs an output with a call earlier in the same input', () => {
    expect(unpairedOutputIndex([], [user, call('a'), output('a')])).toBe(-1);
  });

  it('finds the first output that answers no call', () => {
    expect(unpairedOutputIndex([call('a')], [output('a'), output('b'), output('c')])).toBe(1);
  });

  it('does not pair an output with a call that comes after it', () => {
    expect(unpairedOutputIndex([], [output('a'), call('a')])).toBe(0);
  });
});
