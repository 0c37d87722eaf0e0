import type { FunctionCallItem, Item } from './items';
import { assistantMessage } from './items';
import { settledServerCall } from './server-calls';
import type { StepRecord, StepStatus } from './steps';
import { compactOutput, expandOutput, jsonEqual, type RefStep } from './stored-output';

// A top scope of two rounds: the model asks for two server calls, both run, the model answers.

function call(id: string, name = 'noop'): FunctionCallItem {
  return {
    type: 'function_call',
    id: `fc_${id}`,
    call_id: `call_${id}`,
    name,
    arguments: `{"n":"${id}"}`,
    status: 'completed',
  };
}

const FIRST = call('a');
const SECOND = call('b');
const ANSWER = assistantMessage('msg_answer', 'Both done.');

function modelStep(round: number, output: Item[], status: StepStatus = 'completed'): StepRecord {
  return {
    id: `step_model${round}xxxxxxxxxxxxxxx`,
    round,
    index: 0,
    kind: 'model_call',
    status,
    callId: null,
    result: { output: output as never, finishReason: 'stop' },
    name: null,
    arguments: null,
    error: null,
  };
}

function toolStep(
  index: number,
  callId: string,
  result: RefStep['result'],
  status: StepStatus = 'completed',
): StepRecord {
  return {
    id: `step_tool${index}xxxxxxxxxxxxxxxx`,
    round: 1,
    index,
    kind: 'tool_call',
    status,
    callId,
    result,
    name: 'noop',
    arguments: '{}',
    error: null,
  };
}

const STEPS: StepRecord[] = [
  modelStep(0, [FIRST, SECOND]),
  toolStep(0, FIRST.call_id, 'sunny'),
  toolStep(1, SECOND.call_id, { text: 'a chart', parts: [] }),
  modelStep(2, [ANSWER]),
];

const OUTPUT: Item[] = [
  settledServerCall(FIRST, 'http', STEPS[0].id, STEPS[1]),
  settledServerCall(SECOND, 'http', STEPS[0].id, STEPS[2]),
  ANSWER,
];

describe('compactOutput', () => {
  it('references every item a step holds, and gives the output back from the steps', () => {
    const stored = compactOutput(OUTPUT, STEPS)!;
    expect(stored).toEqual([
      { $c: '0:0:0', $t: '1:0', server_label: 'http', name: 'noop' },
      { $c: '0:0:1', $t: '1:1', server_label: 'http', name: 'noop' },
      { $m: '2:0:0' },
    ]);
    expect(expandOutput(stored, STEPS)).toEqual(OUTPUT);
    expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(OUTPUT).length / 3);
  });

  it('keeps the outcome in a server call whose tool step did not complete with text', () => {
    const failed = toolStep(0, FIRST.call_id, null, 'failed');
    const steps = [STEPS[0], failed, STEPS[2], STEPS[3]];
    const output = [settledServerCall(FIRST, 'http', STEPS[0].id, failed)];
    const [stored] = compactOutput(output, steps)!;
    expect(stored).toEqual({
      $c: '0:0:0',
      server_label: 'http',
      name: 'noop',
      status: 'failed',
      output: null,
      error: (output[0] as { error: string }).error,
    });
    expect(expandOutput([stored], steps)).toEqual(output);
  });

  it('keeps whole an item that differs from what its step holds', () => {
    const edited = { ...ANSWER, status: 'incomplete' as const };
    const renamed = { ...(OUTPUT[0] as object), arguments: '{}' } as Item;
    expect(compactOutput([renamed, edited, OUTPUT[1]], STEPS)).toEqual([
      renamed,
      edited,
      { $c: '0:0:1', $t: '1:1', server_label: 'http', name: 'noop' },
    ]);
  });

  it('stores as it is an output of which no step holds an item, or only an unfinished one', () => {
    const stray = assistantMessage('msg_stray', 'Not from a step.');
    expect(compactOutput([stray], STEPS)).toBeNull();
    const running = [modelStep(0, [ANSWER], 'running')];
    expect(compactOutput([ANSWER], running)).toBeNull();
  });

  it('does not take an item for its step when the tool step shows another text', () => {
    const steps = [STEPS[0], toolStep(0, FIRST.call_id, 'rainy'), STEPS[2], STEPS[3]];
    const [stored] = compactOutput([OUTPUT[0]], steps)!;
    expect(stored).toMatchObject({ $c: '0:0:0', status: 'completed', output: 'sunny' });
    expect(stored).not.toHaveProperty('$t');
  });
});

describe('expandOutput', () => {
  it('refuses a reference to a step or item that is not there', () => {
    expect(() => expandOutput([{ $m: '7:0:0' }], STEPS)).toThrow(/missing item/);
    expect(() => expandOutput([{ $m: '2:0:5' }], STEPS)).toThrow(/missing item/);
    expect(() =>
      expandOutput([{ $c: '2:0:0', server_label: 'http', name: 'noop' }], STEPS),
    ).toThrow(/function call/);
  });
});

describe('jsonEqual', () => {
  it('compares as JSON does: keys in any order, undefined members absent', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(jsonEqual({ a: 1 }, { a: '1' })).toBe(false);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: null }, {})).toBe(false);
    expect(jsonEqual([], {})).toBe(false);
  });
});
