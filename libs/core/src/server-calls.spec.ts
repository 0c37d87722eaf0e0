import type { FunctionCallItem, Item, McpCallItem, MessageItem } from './items';
import { assistantMessage } from './items';
import {
  errorText,
  isServerCall,
  modelItems,
  serverCallItemId,
  serverCallOutputText,
  serverLabel,
  settledServerCall,
  stepOutputText,
  type CallRouting,
  type CallStep,
} from './server-calls';
import type { StepStatus } from './steps';
import { CALL } from './testing/items';

/** The model step that made the calls in these tests. */
const STEP = 'step_0123456789abcdef';

const ROUTING: CallRouting = {
  serverTools: { get_weather: 'http', researcher: 'agent' },
  clientTools: true,
};

function step(status: StepStatus, result: string | null = null, error = null): CallStep {
  return { status, result, error };
}

function call(id: string, name: string, callId = `call_${id}`): FunctionCallItem {
  return {
    type: 'function_call',
    id: `fc_${id}`,
    call_id: callId,
    name,
    arguments: '{}',
    status: 'completed',
  };
}

const user: MessageItem = {
  type: 'message',
  id: 'msg_u',
  role: 'user',
  status: 'completed',
  content: [{ type: 'input_text', text: 'Weather?' }],
};

describe('isServerCall', () => {
  it('runs the offered server tools at the top, hands other names to the client', () => {
    expect(isServerCall(ROUTING, 'get_weather')).toBe(true);
    expect(isServerCall(ROUTING, 'ask_user')).toBe(false);
    expect(isServerCall(ROUTING, 'constructor')).toBe(false);
  });

  it('runs (or refuses) every call in a sub-agent, which has no client', () => {
    expect(isServerCall({ ...ROUTING, clientTools: false }, 'ask_user')).toBe(true);
  });
});

describe('serverLabel', () => {
  it("labels http tools 'http' and agents 'agent', from the step when there is one", () => {
    expect(serverLabel(ROUTING, 'get_weather')).toBe('http');
    expect(serverLabel(ROUTING, 'researcher')).toBe('agent');
    expect(serverLabel(ROUTING, 'get_weather', { kind: 'agent_call' })).toBe('agent');
    expect(serverLabel(ROUTING, 'researcher', { kind: 'tool_call' })).toBe('http');
  });
});

describe('settledServerCall', () => {
  it('derives its id from its turn and function call item, and keeps the model call id', () => {
    const item = settledServerCall(CALL, 'http', STEP, step('completed', 'sunny'));
    expect(item).toEqual({
      type: 'mcp_call',
      id: 'mcp_0123456789ab_1',
      call_id: 'call_1',
      server_label: 'http',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
      output: 'sunny',
      error: null,
      status: 'completed',
    });
    expect(serverCallItemId('fc_1', STEP)).toBe(item.id);
  });

  it.each<[string, CallStep | undefined, Partial<McpCallItem>]>([
    [
      'failed with an error',
      { status: 'failed', result: null, error: { code: 'tool_timeout', message: 'Too slow.' } },
      { status: 'failed', output: null, error: 'tool_timeout: Too slow.' },
    ],
    [
      'failed without one',
      step('failed'),
      { status: 'failed', error: 'tool_error: The tool call failed.' },
    ],
    [
      'cancelled',
      step('cancelled'),
      { status: 'incomplete', error: 'cancelled: The tool call was cancelled.' },
    ],
    ['still running', step('running'), { status: 'incomplete', output: null }],
    ['never recorded', undefined, { status: 'incomplete', output: null }],
  ])('when its step %s, says so', (_case, callStep, expected) => {
    expect(settledServerCall(CALL, 'http', STEP, callStep)).toMatchObject(expected);
  });

  it('tells a call that never ran from one cut short', () => {
    expect(settledServerCall(CALL, 'http', STEP, undefined).error).toMatch(/^not_run: /);
    expect(settledServerCall(CALL, 'http', STEP, step('running')).error).toMatch(/^not_finished: /);
  });
});

describe('serverCallOutputText', () => {
  it.each<[string, CallStep]>([
    ['completed', step('completed', '{"temp":21}')],
    ['completed with empty output', step('completed', '')],
    [
      'failed',
      { status: 'failed', result: null, error: { code: 'http_500', message: 'Down: retry.' } },
    ],
    ['failed without an error', step('failed')],
    ['cancelled', step('cancelled')],
  ])('reads back what the model saw when the %s step ran', (_case, callStep) => {
    const item = settledServerCall(CALL, 'http', STEP, callStep);
    expect(serverCallOutputText(item)).toBe(stepOutputText(callStep));
  });

  it('keeps an error text it cannot split as the message', () => {
    const text = serverCallOutputText({ status: 'failed', output: null, error: 'Broke down.' });
    expect(JSON.parse(text)).toEqual({ error: { code: 'tool_error', message: 'Broke down.' } });
  });

  it('says when a completed call came without its output', () => {
    const text = serverCallOutputText({ status: 'completed', output: null, error: null });
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'output_unavailable' } });
  });

  it('writes errors as code: message', () => {
    expect(errorText({ code: 'max_depth', message: 'Too deep.' })).toBe('max_depth: Too deep.');
  });
});

describe('modelItems', () => {
  const weather = call('w', 'get_weather');
  const research = call('r', 'researcher');
  const asked = call('c', 'ask_user');
  const served = (fc: FunctionCallItem, result: string, turn = STEP): McpCallItem =>
    settledServerCall(fc, serverLabel(ROUTING, fc.name), turn, step('completed', result));

  it('turns each server call back into the call the model made and its output', () => {
    expect(modelItems([user, served(weather, 'sunny')])).toEqual([
      user,
      weather,
      {
        type: 'function_call_output',
        id: 'fco_w',
        call_id: 'call_w',
        output: 'sunny',
        status: 'completed',
      },
    ]);
  });

  it("puts a turn's outputs after all of its calls, client calls included", () => {
    const answer = assistantMessage('msg_a', 'Done.');
    const items: Item[] = [
      user,
      assistantMessage('msg_t', 'Checking.'),
      served(weather, 'sunny'),
      served(research, 'found'),
      asked,
      {
        type: 'function_call_output',
        id: 'fco_c',
        call_id: 'call_c',
        output: 'yes',
        status: 'completed',
      },
      answer,
    ];
    expect(modelItems(items).map((item) => `${item.type}:${item.id}`)).toEqual([
      'message:msg_u',
      'message:msg_t',
      'function_call:fc_w',
      'function_call:fc_r',
      'function_call:fc_c',
      'function_call_output:fco_w',
      'function_call_output:fco_r',
      'function_call_output:fco_c',
      'message:msg_a',
    ]);
  });

  it("gives two turns' calls back as two turns, though nothing stands between them", () => {
    const later = 'step_fedcba9876543210';
    const items: Item[] = [served(weather, 'sunny'), served(research, 'found', later)];
    expect(modelItems(items).map((item) => item.type)).toEqual([
      'function_call',
      'function_call_output',
      'function_call',
      'function_call_output',
    ]);
  });

  it('groups calls whose ids carry no turn as one turn', () => {
    const plain = (item: McpCallItem): McpCallItem => ({
      ...item,
      id: item.id.replace(/_[^_]*_/, '_'),
    });
    const items = [plain(served(weather, 'sunny')), plain(served(research, 'found'))];
    expect(modelItems(items).map((item) => item.type)).toEqual([
      'function_call',
      'function_call',
      'function_call_output',
      'function_call_output',
    ]);
  });

  it('leaves items without server calls as they are', () => {
    const items: Item[] = [user, asked, assistantMessage('msg_a', 'Done.')];
    expect(modelItems(items)).toEqual(items);
  });

  it('pairs a call sent without its call id by one derived from its item id', () => {
    const { call_id: _callId, ...rest } = served(weather, 'sunny');
    const [fc, output] = modelItems([{ ...rest, call_id: '' }]);
    expect(fc).toMatchObject({ type: 'function_call', call_id: 'call_w' });
    expect(output).toMatchObject({ type: 'function_call_output', call_id: 'call_w' });
  });

  it('gives the model a call that ended in an error as the error it read', () => {
    const failed = settledServerCall(weather, 'http', STEP, {
      status: 'failed',
      result: null,
      error: { code: 'tool_timeout', message: 'Too slow.' },
    });
    const [, output] = modelItems([failed]);
    expect(JSON.parse((output as { output: string }).output)).toEqual({
      error: { code: 'tool_timeout', message: 'Too slow.' },
    });
  });
});
