import {
  assistantMessage,
  type FunctionCallItem,
  type FunctionCallOutputItem,
  type Item,
  type McpCallItem,
  type MessageItem,
  type ModelItem,
} from './items';
import { SERVER_LABELS, settledServerCall, type ServerToolKind } from './server-calls';
import type { FinishReason, NewStep, StepError, StepKind, StepRecord, StepStatus } from './steps';
import {
  CAP_REASONS,
  conversationBefore,
  groupRounds,
  toolOutputItem,
  transition,
  type Decision,
  type ResponseBudget,
  type ScopeState,
} from './transition';

// ---- Fixtures ----

const SERVER_TOOLS: Record<string, ServerToolKind> = {
  get_weather: 'http',
  lookup: 'http',
  researcher: 'agent',
};

function call(callId: string, name: string, args = '{}'): FunctionCallItem {
  return {
    type: 'function_call',
    id: `fc_${callId}`,
    call_id: callId,
    name,
    arguments: args,
    status: 'completed',
  };
}

function say(text: string): MessageItem {
  return assistantMessage(`msg_${text.replace(/\W/g, '_')}`, text);
}

function userMessage(text: string): MessageItem {
  return {
    type: 'message',
    id: 'msg_user',
    role: 'user',
    status: 'completed',
    content: [{ type: 'input_text', text }],
  };
}

interface ModelStepOptions {
  status?: StepStatus;
  finishReason?: FinishReason;
  error?: StepError;
}

/** The model call of `round`; completed with `output` unless a status says otherwise. */
function modelStep(round: number, output: ModelItem[], options: ModelStepOptions = {}): StepRecord {
  const status = options.status ?? 'completed';
  const hasCalls = output.some((item) => item.type === 'function_call');
  return {
    id: `step_model_${round}`,
    round,
    index: 0,
    kind: 'model_call',
    status,
    callId: null,
    name: null,
    arguments: null,
    result:
      status === 'completed'
        ? { output, finishReason: options.finishReason ?? (hasCalls ? 'tool_calls' : 'stop') }
        : null,
    error: options.error ?? null,
  };
}

interface ToolStepOptions {
  status?: StepStatus;
  result?: string;
  error?: StepError;
  kind?: StepKind;
  /** A call the transition refused: recorded as already failed with this, as the store does. */
  refused?: StepError;
}

/** The step running `fc` as sibling `index` of tool round `round`. */
function toolStep(
  round: number,
  index: number,
  fc: FunctionCallItem,
  options: ToolStepOptions = {},
): StepRecord {
  const status = options.refused ? 'failed' : (options.status ?? 'completed');
  return {
    id: `step_tool_${round}_${index}`,
    round,
    index,
    kind: options.kind ?? kindOf(fc),
    status,
    callId: fc.call_id,
    name: fc.name,
    arguments: fc.arguments,
    result: status === 'completed' ? (options.result ?? `result of ${fc.call_id}`) : null,
    error: options.refused ?? options.error ?? null,
  };
}

/** Sibling steps for `calls`, all with the same options. */
function toolRound(
  round: number,
  calls: FunctionCallItem[],
  options: ToolStepOptions = {},
): StepRecord[] {
  return calls.map((fc, index) => toolStep(round, index, fc, options));
}

type ScopeOverrides = Partial<Omit<ScopeState, 'budget'>> & { budget?: Partial<ResponseBudget> };

/** A top scope with room to spare; `budget` overrides only the budgets it names. */
function scope(steps: StepRecord[], overrides: ScopeOverrides = {}): ScopeState {
  const { budget, ...rest } = overrides;
  return {
    steps,
    serverTools: SERVER_TOOLS,
    clientTools: true,
    maxIterations: 10,
    budget: { steps: 100, toolCalls: null, expired: false, ...budget },
    ...rest,
  };
}

function kindOf(fc: FunctionCallItem): StepKind {
  return SERVER_TOOLS[fc.name] === 'agent' ? 'agent_call' : 'tool_call';
}

/** The step the transition appends for `fc` as sibling `index`, refused if `refused` is given. */
function planned(index: number, fc: FunctionCallItem, refused?: StepError): NewStep {
  return {
    kind: kindOf(fc),
    index,
    callId: fc.call_id,
    name: fc.name,
    arguments: fc.arguments,
    ...(refused ? { refused } : {}),
  };
}

/** The function_call_output the model reads for `step`. */
function outputOf(step: StepRecord): FunctionCallOutputItem {
  return toolOutputItem(step);
}

/**
 * What clients see of server call `fc`: its mcp_call item, as `step` (if any) left it. The
 * call was made by the model step of the round before the step's (round 0 without a step).
 */
function shown(fc: FunctionCallItem, step?: StepRecord): McpCallItem {
  return settledServerCall(
    fc,
    SERVER_LABELS[step ? kindLabel(step.kind) : SERVER_TOOLS[fc.name]],
    modelStep(step ? step.round - 1 : 0, []).id,
    step,
  );
}

function kindLabel(kind: StepKind): ServerToolKind {
  return kind === 'agent_call' ? 'agent' : 'http';
}

function appendedModelCall(round: number): Decision {
  return {
    type: 'append',
    round,
    steps: [{ kind: 'model_call', index: 0, callId: null, name: null, arguments: null }],
  };
}

// ---- Specs ----

describe('transition', () => {
  it('starts an empty scope with a model call in round 0', () => {
    expect(transition(scope([]))).toEqual(appendedModelCall(0));
  });

  it.each<StepStatus>(['pending', 'running'])('waits while the model call is %s', (status) => {
    expect(transition(scope([modelStep(0, [], { status })]))).toEqual({ type: 'wait' });
  });

  it('completes with the model output when the model answers with text', () => {
    const output = [say('Hello!')];
    expect(transition(scope([modelStep(0, output)]))).toEqual({ type: 'complete', output });
  });

  it('decides the same thing every time for the same recorded state', () => {
    const state = scope([modelStep(0, [call('c1', 'get_weather'), call('c2', 'researcher')])]);
    expect(transition(state)).toEqual(transition(state));
  });

  describe('server-side tool calls', () => {
    it('appends one step per call in round + 1, indexed 0..N-1, carrying the call', () => {
      const calls = [
        call('call_a', 'get_weather', '{"city":"Paris"}'),
        call('call_b', 'lookup', '{"q":"x"}'),
        call('call_c', 'get_weather', '{"city":"Oslo"}'),
      ];
      expect(transition(scope([modelStep(0, calls)]))).toEqual({
        type: 'append',
        round: 1,
        steps: [
          {
            kind: 'tool_call',
            index: 0,
            callId: 'call_a',
            name: 'get_weather',
            arguments: '{"city":"Paris"}',
          },
          { kind: 'tool_call', index: 1, callId: 'call_b', name: 'lookup', arguments: '{"q":"x"}' },
          {
            kind: 'tool_call',
            index: 2,
            callId: 'call_c',
            name: 'get_weather',
            arguments: '{"city":"Oslo"}',
          },
        ],
      });
    });

    it('makes a call to an agent tool an agent_call step', () => {
      const decision = transition(
        scope([modelStep(0, [call('c1', 'researcher', '{"input":"why?"}'), call('c2', 'lookup')])]),
      );
      expect(decision).toMatchObject({
        type: 'append',
        steps: [
          { kind: 'agent_call', index: 0, callId: 'c1', name: 'researcher' },
          { kind: 'tool_call', index: 1, callId: 'c2', name: 'lookup' },
        ],
      });
    });

    it('numbers the new round after the model call that asked, not from 0', () => {
      const first = call('c1', 'lookup');
      const steps = [
        modelStep(0, [first]),
        toolStep(1, 0, first),
        modelStep(2, [call('c2', 'lookup')]),
      ];
      expect(transition(scope(steps))).toMatchObject({ type: 'append', round: 3 });
    });

    it.each<StepStatus>(['pending', 'running'])(
      'waits while one sibling of the tool round is %s',
      (status) => {
        const calls = [call('c1', 'get_weather'), call('c2', 'lookup'), call('c3', 'researcher')];
        const steps = [
          modelStep(0, calls),
          toolStep(1, 0, calls[0]),
          toolStep(1, 1, calls[1], { status }),
          toolStep(1, 2, calls[2], { status: 'failed' }),
        ];
        expect(transition(scope(steps))).toEqual({ type: 'wait' });
      },
    );

    it('asks the model again in round + 1 once every sibling is terminal', () => {
      const calls = [call('c1', 'get_weather'), call('c2', 'lookup'), call('c3', 'researcher')];
      const steps = [
        modelStep(0, calls),
        toolStep(1, 0, calls[0]),
        toolStep(1, 1, calls[1], { status: 'failed' }),
        toolStep(1, 2, calls[2], { status: 'cancelled' }),
      ];
      expect(transition(scope(steps))).toEqual(appendedModelCall(2));
    });

    it('completes with every round in order when the model finally answers with text', () => {
      const fc = call('c1', 'get_weather');
      const tool = toolStep(1, 0, fc, { result: '{"temp":21}' });
      const steps = [modelStep(0, [say('Let me check.'), fc]), tool, modelStep(2, [say('21C.')])];
      expect(transition(scope(steps))).toEqual({
        type: 'complete',
        output: [say('Let me check.'), shown(fc, tool), say('21C.')],
      });
    });
  });

  describe('a failed tool', () => {
    const fc = call('c1', 'get_weather');
    const error = { code: 'http_500', message: 'weather service down' };
    const failed = toolStep(1, 0, fc, { status: 'failed', error });
    const steps = [modelStep(0, [fc]), failed];

    it('does not fail the response: the model is asked again', () => {
      expect(transition(scope(steps))).toEqual(appendedModelCall(2));
    });

    it('becomes a function_call_output carrying the error as JSON for the model', () => {
      const item = conversationBefore([], steps, 2).find(
        (candidate) => candidate.type === 'function_call_output',
      );
      expect(item).toMatchObject({ type: 'function_call_output', call_id: 'c1' });
      expect(JSON.parse((item as FunctionCallOutputItem).output as string)).toEqual({ error });
    });

    it.each<[StepStatus, StepError]>([
      ['failed', { code: 'tool_error', message: 'The tool call failed.' }],
      ['cancelled', { code: 'cancelled', message: 'The tool call was cancelled.' }],
    ])('describes a %s step without a recorded error generically', (status, expected) => {
      const item = toolOutputItem(toolStep(1, 0, fc, { status }));
      expect(JSON.parse(item.output as string)).toEqual({ error: expected });
    });
  });

  describe('client-side tool calls', () => {
    it('completes with the function_call items when the model only calls client tools', () => {
      const output = [say('I need your location.'), call('c1', 'ask_user'), call('c2', 'gps')];
      expect(transition(scope([modelStep(0, output)]))).toEqual({ type: 'complete', output });
    });

    describe('mixed with server-side calls in one round', () => {
      const client = call('c_client', 'ask_user');
      const weather = call('c_weather', 'get_weather');
      const research = call('c_research', 'researcher');
      const asked = modelStep(0, [say('Working on it.'), client, weather, research]);

      it('appends only the server-side calls', () => {
        expect(transition(scope([asked]))).toEqual({
          type: 'append',
          round: 1,
          steps: [
            {
              kind: 'tool_call',
              index: 0,
              callId: 'c_weather',
              name: 'get_weather',
              arguments: '{}',
            },
            {
              kind: 'agent_call',
              index: 1,
              callId: 'c_research',
              name: 'researcher',
              arguments: '{}',
            },
          ],
        });
      });

      it('waits while a server-side sibling is still running', () => {
        const steps = [
          asked,
          toolStep(1, 0, weather),
          toolStep(1, 1, research, { status: 'running' }),
        ];
        expect(transition(scope(steps))).toEqual({ type: 'wait' });
      });

      it('then completes with the client calls, and the server-side calls as they ended', () => {
        const tools = toolRound(1, [weather, research]);
        const decision = transition(scope([asked, ...tools]));
        expect(decision).toEqual({
          type: 'complete',
          output: [
            say('Working on it.'),
            client,
            shown(weather, tools[0]),
            shown(research, tools[1]),
          ],
        });
        const calls = (decision as { output: Item[] }).output.filter(
          (item): item is McpCallItem => item.type === 'mcp_call',
        );
        expect(calls.map((item) => [item.server_label, item.output])).toEqual([
          ['http', 'result of c_weather'],
          ['agent', 'result of c_research'],
        ]);
      });

      it('completes for the client even when maxIterations is reached', () => {
        const decision = transition(
          scope([asked, ...toolRound(1, [weather, research])], {
            maxIterations: 1,
          }),
        );
        expect(decision.type).toBe('complete');
      });
    });

    it.each(['constructor', 'toString', 'hasOwnProperty', '__proto__'])(
      "treats a client tool named '%s' as client-side, not as an inherited property",
      (name) => {
        const output = [call('c1', name)];
        expect(transition(scope([modelStep(0, output)]))).toEqual({ type: 'complete', output });
      },
    );
  });

  describe('a failed model call', () => {
    it('fails the scope with the error of the model call', () => {
      const error = { code: 'upstream_error', message: 'HTTP 502 from upstream' };
      expect(transition(scope([modelStep(0, [], { status: 'failed', error })]))).toEqual({
        type: 'fail',
        error,
      });
    });

    it('fails on a later model call too, after tools have run', () => {
      const fc = call('c1', 'lookup');
      const error = { code: 'rate_limited', message: 'slow down' };
      const steps = [
        modelStep(0, [fc]),
        toolStep(1, 0, fc),
        modelStep(2, [], { status: 'failed', error }),
      ];
      expect(transition(scope(steps))).toEqual({ type: 'fail', error });
    });

    it('fails with a generic error when a cancelled model call recorded none', () => {
      expect(transition(scope([modelStep(0, [], { status: 'cancelled' })]))).toEqual({
        type: 'fail',
        error: { code: 'model_error', message: 'The model call did not complete.' },
      });
    });
  });

  describe('finish reasons that stop the scope', () => {
    it("ends incomplete with 'max_output_tokens' when the output was cut off by length", () => {
      const output = [say('The answer is')];
      expect(transition(scope([modelStep(0, output, { finishReason: 'length' })]))).toEqual({
        type: 'incomplete',
        reason: 'max_output_tokens',
        output,
      });
    });

    it('does not run tool calls of a cut-off output: they show as never run', () => {
      const fc = call('c1', 'get_weather', '{"ci');
      expect(transition(scope([modelStep(0, [fc], { finishReason: 'length' })]))).toEqual({
        type: 'incomplete',
        reason: 'max_output_tokens',
        output: [shown(fc)],
      });
      expect(shown(fc)).toMatchObject({ status: 'incomplete', output: null });
    });

    it("ends incomplete with 'content_filter' when the output was filtered", () => {
      const output = [say('I')];
      expect(transition(scope([modelStep(0, output, { finishReason: 'content_filter' })]))).toEqual(
        { type: 'incomplete', reason: 'content_filter', output },
      );
    });

    it('keeps the output of earlier rounds in an incomplete decision', () => {
      const fc = call('c1', 'lookup');
      const tool = toolStep(1, 0, fc);
      const steps = [
        modelStep(0, [fc]),
        tool,
        modelStep(2, [say('Trunc')], { finishReason: 'length' }),
      ];
      expect(transition(scope(steps))).toEqual({
        type: 'incomplete',
        reason: 'max_output_tokens',
        output: [shown(fc, tool), say('Trunc')],
      });
    });
  });

  describe('maxIterations (model calls allowed per scope)', () => {
    const first = call('c1', 'lookup');
    const second = call('c2', 'lookup');
    const afterFirstToolRound = [modelStep(0, [first]), toolStep(1, 0, first)];
    const afterSecondToolRound = [
      ...afterFirstToolRound,
      modelStep(2, [second]),
      toolStep(3, 0, second),
    ];

    it('with maxIterations 2, after the 1st model call (1 of 2 used) its tool round appends the 2nd model call', () => {
      expect(transition(scope(afterFirstToolRound, { maxIterations: 2 }))).toEqual(
        appendedModelCall(2),
      );
    });

    it("with maxIterations 2, after the 2nd model call (2 of 2 used) its tool round ends incomplete 'max_iterations'", () => {
      expect(transition(scope(afterSecondToolRound, { maxIterations: 2 }))).toEqual({
        type: 'incomplete',
        reason: 'max_iterations',
        output: [shown(first, afterSecondToolRound[1]), shown(second, afterSecondToolRound[3])],
      });
    });

    it('with maxIterations 2, the 2nd model call answering with text still completes', () => {
      const steps = [...afterFirstToolRound, modelStep(2, [say('Done.')])];
      expect(transition(scope(steps, { maxIterations: 2 }))).toMatchObject({ type: 'complete' });
    });

    it('with maxIterations 2, the 2nd model call still starts its tools (the cap only stops a 3rd model call)', () => {
      const steps = [...afterFirstToolRound, modelStep(2, [second])];
      expect(transition(scope(steps, { maxIterations: 2 }))).toMatchObject({
        type: 'append',
        round: 3,
      });
    });

    it("with maxIterations 1, the 1st model call's tool round ends incomplete 'max_iterations'", () => {
      expect(transition(scope(afterFirstToolRound, { maxIterations: 1 }))).toMatchObject({
        type: 'incomplete',
        reason: 'max_iterations',
      });
    });

    it('with maxIterations 3, after the 2nd model call its tool round appends the 3rd model call', () => {
      expect(transition(scope(afterSecondToolRound, { maxIterations: 3 }))).toEqual(
        appendedModelCall(4),
      );
    });
  });
  describe('budget.expired (the response ran out of wall-clock time)', () => {
    const first = call('c1', 'get_weather');
    const second = call('c2', 'lookup');
    const asked = modelStep(0, [say('Checking.'), first, second]);
    const expired = { budget: { expired: true } };

    it("ends an empty scope incomplete 'max_duration' with no output, without calling the model", () => {
      expect(transition(scope([], expired))).toEqual({
        type: 'incomplete',
        reason: CAP_REASONS.maxDuration,
        output: [],
      });
    });

    it("ends incomplete 'max_duration' with the output so far once a tool round has completed", () => {
      const tools = toolRound(1, [first, second]);
      expect(transition(scope([asked, ...tools], expired))).toEqual({
        type: 'incomplete',
        reason: CAP_REASONS.maxDuration,
        output: [say('Checking.'), shown(first, tools[0]), shown(second, tools[1])],
      });
    });

    it("ends incomplete 'max_duration' instead of starting the tools of a completed model call", () => {
      expect(transition(scope([asked], expired))).toEqual({
        type: 'incomplete',
        reason: CAP_REASONS.maxDuration,
        output: [say('Checking.'), shown(first), shown(second)],
      });
    });

    it('waits, rather than ending incomplete, while a sibling of the round is still running', () => {
      const steps = [asked, toolStep(1, 0, first), toolStep(1, 1, second, { status: 'running' })];
      expect(transition(scope(steps, expired))).toEqual({ type: 'wait' });
    });

    it('waits, rather than ending incomplete, while the model call is still running', () => {
      expect(transition(scope([modelStep(0, [], { status: 'running' })], expired))).toEqual({
        type: 'wait',
      });
    });
  });

  describe('budget.steps (steps still allowed across the response tree)', () => {
    const calls = [call('c1', 'get_weather'), call('c2', 'lookup'), call('c3', 'researcher')];
    const asked = modelStep(0, [say('Three things.'), ...calls]);
    const tools = toolRound(1, calls);
    const stepsLeft = (steps: number) => ({ budget: { steps } });

    it.each([0, -1])(
      "with %i steps left, ends an empty scope incomplete 'max_steps' with no output",
      (steps) => {
        expect(transition(scope([], stepsLeft(steps)))).toEqual({
          type: 'incomplete',
          reason: CAP_REASONS.maxSteps,
          output: [],
        });
      },
    );

    it('with 1 step left, starts an empty scope with its model call', () => {
      expect(transition(scope([], stepsLeft(1)))).toEqual(appendedModelCall(0));
    });

    it("with 2 steps left (< 3 server calls asked), ends incomplete 'max_steps' with the output so far", () => {
      expect(transition(scope([asked], stepsLeft(2)))).toEqual({
        type: 'incomplete',
        reason: CAP_REASONS.maxSteps,
        output: [say('Three things.'), ...calls.map((fc) => shown(fc))],
      });
    });

    it('with exactly 3 steps left (= 3 server calls asked), appends all 3 calls', () => {
      expect(transition(scope([asked], stepsLeft(3)))).toEqual({
        type: 'append',
        round: 1,
        steps: calls.map((fc, index) => planned(index, fc)),
      });
    });

    it('with 2 steps left, 2 server calls beside a client call fit: client calls take no step', () => {
      const server = [call('c1', 'get_weather'), call('c2', 'lookup')];
      const mixed = modelStep(0, [call('c_client', 'ask_user'), ...server]);
      expect(transition(scope([mixed], stepsLeft(2)))).toEqual({
        type: 'append',
        round: 1,
        steps: server.map((fc, index) => planned(index, fc)),
      });
    });

    it.each([0, -1])(
      "with %i steps left after a tool round, ends incomplete 'max_steps' with the output so far",
      (steps) => {
        expect(transition(scope([asked, ...tools], stepsLeft(steps)))).toEqual({
          type: 'incomplete',
          reason: CAP_REASONS.maxSteps,
          output: [say('Three things.'), ...calls.map((fc, i) => shown(fc, tools[i]))],
        });
      },
    );

    it('with 1 step left after a tool round, appends the next model call', () => {
      expect(transition(scope([asked, ...tools], stepsLeft(1)))).toEqual(appendedModelCall(2));
    });
  });

  describe('budget.toolCalls (the max_tool_calls the request has left)', () => {
    const calls = [call('c1', 'get_weather'), call('c2', 'lookup'), call('c3', 'researcher')];
    const asked = modelStep(0, [say('Three things.'), ...calls]);
    const toolCallsLeft = (toolCalls: number | null) => ({ budget: { toolCalls } });
    const exhausted = {
      code: 'max_tool_calls',
      message: expect.stringContaining('max_tool_calls') as string,
    };

    it('with no limit (null), refuses no call', () => {
      expect(transition(scope([asked], toolCallsLeft(null)))).toEqual({
        type: 'append',
        round: 1,
        steps: calls.map((fc, index) => planned(index, fc)),
      });
    });

    it("with 2 left and 3 server calls, runs index 0 and 1 and refuses index 2 'max_tool_calls'", () => {
      expect(transition(scope([asked], toolCallsLeft(2)))).toEqual({
        type: 'append',
        round: 1,
        steps: [planned(0, calls[0]), planned(1, calls[1]), planned(2, calls[2], exhausted)],
      });
    });

    it('with exactly 3 left and 3 server calls, refuses no call', () => {
      expect(transition(scope([asked], toolCallsLeft(3)))).toEqual({
        type: 'append',
        round: 1,
        steps: calls.map((fc, index) => planned(index, fc)),
      });
    });

    it("with 0 left, refuses every call 'max_tool_calls'", () => {
      expect(transition(scope([asked], toolCallsLeft(0)))).toEqual({
        type: 'append',
        round: 1,
        steps: calls.map((fc, index) => planned(index, fc, exhausted)),
      });
    });

    it('counts only server calls: with 1 left, a client call neither runs nor takes the allowance', () => {
      const mixed = modelStep(0, [call('c_client', 'ask_user'), calls[0], calls[1]]);
      expect(transition(scope([mixed], toolCallsLeft(1)))).toEqual({
        type: 'append',
        round: 1,
        steps: [planned(0, calls[0]), planned(1, calls[1], exhausted)],
      });
    });

    it('keeps refused calls as steps with their call ids, so every call gets an output', () => {
      const decision = transition(scope([asked], toolCallsLeft(0)));
      const appended = (decision as { steps: NewStep[] }).steps;
      expect(appended.map((step) => step.callId)).toEqual(['c1', 'c2', 'c3']);

      // Recorded as failed with their refusal, they end the round and the model reads why.
      const refused = calls.map((fc, index) =>
        toolStep(1, index, fc, { refused: appended[index].refused }),
      );
      expect(transition(scope([asked, ...refused], toolCallsLeft(0)))).toEqual(
        appendedModelCall(2),
      );
      const outputs = conversationBefore([], [asked, ...refused], 2).filter(
        (item): item is FunctionCallOutputItem => item.type === 'function_call_output',
      );
      expect(outputs.map((item) => item.call_id)).toEqual(['c1', 'c2', 'c3']);
      for (const item of outputs) {
        expect(JSON.parse(item.output as string)).toEqual({ error: exhausted });
      }
    });
  });

  describe('a sub-agent scope (clientTools: false)', () => {
    const subAgent = { clientTools: false };
    const notFound = (name: string) => ({
      code: 'tool_not_found',
      message: expect.stringContaining(`'${name}'`) as string,
    });
    const weather = call('c_weather', 'get_weather');
    const askUser = call('c_ask', 'ask_user');
    const research = call('c_research', 'researcher');
    const wipe = call('c_wipe', 'wipe_disk', '{"really":true}');
    const asked = modelStep(0, [say('Working.'), weather, askUser, research, wipe]);

    it("refuses calls to tools it lacks 'tool_not_found', among its server calls in index order", () => {
      expect(transition(scope([asked], subAgent))).toEqual({
        type: 'append',
        round: 1,
        steps: [
          planned(0, weather),
          planned(1, askUser, notFound('ask_user')),
          planned(2, research),
          planned(3, wipe, notFound('wipe_disk')),
        ],
      });
    });

    it('appends refused tool_call steps when the model calls only tools it lacks', () => {
      const decision = transition(scope([modelStep(0, [say('Asking.'), askUser])], subAgent));
      expect(decision).toEqual({
        type: 'append',
        round: 1,
        steps: [{ ...planned(0, askUser, notFound('ask_user')), kind: 'tool_call' }],
      });
    });

    it.each(['constructor', 'toString', '__proto__'])(
      "refuses a call to '%s' as not found, not as an inherited property",
      (name) => {
        const fc = call('c1', name);
        expect(transition(scope([modelStep(0, [fc])], subAgent))).toEqual({
          type: 'append',
          round: 1,
          steps: [{ ...planned(0, fc, notFound(name)), kind: 'tool_call' }],
        });
      },
    );

    // BUG (transition.ts): once the refused round is recorded, the client-tools check in the
    // tool-round branch ignores `clientTools` and completes the scope, so the model never
    // reads the tool_not_found errors. Drop `.failing` once that check is
    // `state.clientTools && askedCalls.some(...)`.
    it('asks the model again once the refused round is recorded, so it reads the errors', () => {
      const { steps: appended } = transition(scope([asked], subAgent)) as { steps: NewStep[] };
      const calls = [weather, askUser, research, wipe];
      const round = appended.map((step) =>
        toolStep(1, step.index, calls[step.index], { refused: step.refused }),
      );
      expect(transition(scope([asked, ...round], subAgent))).toEqual(appendedModelCall(2));
    });

    it('never completes with a function_call for a client it does not have', () => {
      const steps: StepRecord[] = [modelStep(0, [askUser])];
      let decision = transition(scope(steps, subAgent));
      for (let turn = 0; decision.type === 'append' && turn < 10; turn++) {
        if (decision.steps[0].kind === 'model_call') {
          steps.push(modelStep(decision.round, [say('Done without it.')]));
        } else {
          const round = decision.round;
          steps.push(
            ...decision.steps.map((step) =>
              toolStep(round, step.index, askUser, { refused: step.refused }),
            ),
          );
        }
        decision = transition(scope(steps, subAgent));
      }
      expect(decision.type).toBe('complete');
      const output = (decision as { output: Item[] }).output;
      expect(output.filter((item) => item.type === 'function_call')).toEqual([]);
      expect(output.filter((item) => item.type === 'mcp_call')).toEqual([
        expect.objectContaining({ name: 'ask_user', status: 'failed' }),
      ]);
    });

    it('with clientTools: true, the same unknown names go to the client as before', () => {
      expect(transition(scope([asked], { clientTools: true }))).toEqual({
        type: 'append',
        round: 1,
        steps: [planned(0, weather), planned(1, research)],
      });
      const round = toolRound(1, [weather, research]);
      expect(transition(scope([asked, ...round], { clientTools: true }))).toMatchObject({
        type: 'complete',
      });
    });
  });

  describe('CAP_REASONS', () => {
    it('holds the incomplete_details.reason values clients see', () => {
      expect(CAP_REASONS).toEqual({
        maxIterations: 'max_iterations',
        maxSteps: 'max_steps',
        maxDuration: 'max_duration',
      });
    });

    const fc = call('c1', 'lookup');
    const afterToolRound = [modelStep(0, [fc]), toolStep(1, 0, fc)];
    it.each<[keyof typeof CAP_REASONS, ScopeOverrides]>([
      ['maxIterations', { maxIterations: 1 }],
      ['maxSteps', { budget: { steps: 0 } }],
      ['maxDuration', { budget: { expired: true } }],
    ])('reports the %s cap with its CAP_REASONS value', (cap, overrides) => {
      expect(transition(scope(afterToolRound, overrides))).toMatchObject({
        type: 'incomplete',
        reason: CAP_REASONS[cap],
      });
    });
  });
});

describe('conversationBefore', () => {
  const input = [userMessage('Weather in Paris and Oslo?')];
  const paris = call('call_paris', 'get_weather', '{"city":"Paris"}');
  const oslo = call('call_oslo', 'get_weather', '{"city":"Oslo"}');
  const more = call('call_more', 'lookup');
  const parisStep = toolStep(1, 0, paris, { result: '{"temp":21}' });
  const osloStep = toolStep(1, 1, oslo, { status: 'failed', error: { code: 'e', message: 'm' } });
  const moreStep = toolStep(3, 0, more);
  // Recorded out of order, as a store may return them.
  const steps = [
    moreStep,
    osloStep,
    modelStep(2, [say('Checking more.'), more]),
    parisStep,
    modelStep(0, [say('Checking.'), paris, oslo]),
  ];

  it('is the scope input alone for round 0', () => {
    expect(conversationBefore(input, steps, 0)).toEqual(input);
  });

  it('holds input, every earlier output and each tool output paired with its call id, in order', () => {
    const conversation = conversationBefore(input, steps, 2);
    expect(conversation).toEqual([
      ...input,
      say('Checking.'),
      paris,
      oslo,
      { ...outputOf(parisStep), call_id: 'call_paris', output: '{"temp":21}' },
      { ...outputOf(osloStep), call_id: 'call_oslo' },
    ]);
  });

  it('excludes the rounds at and after the given round', () => {
    const conversation = conversationBefore(input, steps, 2);
    expect(conversation).not.toContainEqual(more);
    expect(conversation.some((item) => 'call_id' in item && item.call_id === 'call_more')).toBe(
      false,
    );
  });

  it('includes every round before a later model call', () => {
    expect(conversationBefore(input, steps, 4)).toEqual([
      ...input,
      say('Checking.'),
      paris,
      oslo,
      outputOf(parisStep),
      outputOf(osloStep),
      say('Checking more.'),
      more,
      outputOf(moreStep),
    ]);
  });

  it('leaves out tool steps that have not finished', () => {
    const running = toolStep(1, 1, oslo, { status: 'running' });
    const conversation = conversationBefore(
      input,
      [modelStep(0, [paris, oslo]), parisStep, running],
      2,
    );
    expect(conversation.filter((item) => item.type === 'function_call_output')).toEqual([
      outputOf(parisStep),
    ]);
  });
});

describe('groupRounds', () => {
  it('orders rounds ascending and the steps of each round by index', () => {
    const a = call('a', 'lookup');
    const b = call('b', 'lookup');
    const c = call('c', 'lookup');
    const steps = [
      toolStep(3, 1, b),
      modelStep(2, []),
      toolStep(1, 2, c),
      toolStep(3, 0, a),
      modelStep(0, []),
      toolStep(1, 0, a),
      toolStep(1, 1, b),
    ];
    const rounds = groupRounds(steps);
    expect(rounds.map((round) => round.map((step) => [step.round, step.index]))).toEqual([
      [[0, 0]],
      [
        [1, 0],
        [1, 1],
        [1, 2],
      ],
      [[2, 0]],
      [
        [3, 0],
        [3, 1],
      ],
    ]);
  });

  it('does not reorder the array it was given', () => {
    const steps = [
      toolStep(1, 1, call('b', 'lookup')),
      modelStep(0, []),
      toolStep(1, 0, call('a', 'lookup')),
    ];
    const ids = steps.map((step) => step.id);
    groupRounds(steps);
    expect(steps.map((step) => step.id)).toEqual(ids);
  });

  it('returns no rounds for no steps', () => {
    expect(groupRounds([])).toEqual([]);
  });
});

describe('toolOutputItem', () => {
  const fc = call('call_7', 'get_weather');

  it('derives its id from the step id, so recording it twice gives the same item', () => {
    const step = { ...toolStep(1, 0, fc), id: 'step_abc123' };
    expect(toolOutputItem(step).id).toBe('fco_abc123');
    expect(toolOutputItem(step)).toEqual(toolOutputItem({ ...step }));
  });

  it('gives different steps different ids', () => {
    expect(toolOutputItem(toolStep(1, 0, fc)).id).not.toBe(toolOutputItem(toolStep(1, 1, fc)).id);
  });

  it('prefixes an id that has no step_ prefix', () => {
    expect(toolOutputItem({ ...toolStep(1, 0, fc), id: 'xyz' }).id).toBe('fco_xyz');
  });

  it("is a completed function_call_output with the call id and the tool's result", () => {
    expect(toolOutputItem(toolStep(1, 0, fc, { result: 'sunny' }))).toEqual({
      type: 'function_call_output',
      id: 'fco_tool_1_0',
      call_id: 'call_7',
      output: 'sunny',
      status: 'completed',
    });
  });

  it("carries an agent step's final text as the output", () => {
    const agent = call('call_agent', 'researcher', '{"input":"why?"}');
    const item = toolOutputItem(toolStep(1, 0, agent, { result: 'Because.' }));
    expect(item).toMatchObject({ call_id: 'call_agent', output: 'Because.' });
  });
});
