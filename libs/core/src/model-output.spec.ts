import {
  assistantMessage,
  type FunctionCallItem,
  type FunctionCallOutputItem,
  type ModelItem as Item,
  type MessageItem,
  type ReasoningItem,
} from './items';
import {
  finalText,
  shapeModelOutput,
  summarizeReasoning,
  type ModelToolChoice,
} from './model-output';

// ---- Fixtures ----

function call(callId: string, name: string): FunctionCallItem {
  return {
    type: 'function_call',
    id: `fc_${callId}`,
    call_id: callId,
    name,
    arguments: '{}',
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

function thought(text: string): ReasoningItem {
  return { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text }] };
}

function outputFor(fc: FunctionCallItem, output: string): FunctionCallOutputItem {
  return {
    type: 'function_call_output',
    id: `fco_${fc.call_id}`,
    call_id: fc.call_id,
    output,
    status: 'completed',
  };
}

const weather = call('c1', 'get_weather');
const lookup = call('c2', 'lookup');
const weatherAgain = call('c3', 'get_weather');

// ---- Specs ----

describe('shapeModelOutput', () => {
  const withCalls: Item[] = [thought('Two lookups.'), say('Checking.'), weather, lookup];

  describe("tool_choice 'auto'", () => {
    it.each([true, false])(
      'returns the output unchanged when it has at most one call (parallel %s)',
      (parallel) => {
        const output = [thought('Hmm.'), say('Checking.'), weather];
        expect(shapeModelOutput(output, 'auto', parallel)).toEqual({ output });
      },
    );

    it('returns every call unchanged with parallel tool calls on', () => {
      expect(shapeModelOutput(withCalls, 'auto', true)).toEqual({ output: withCalls });
    });

    it('returns a copy, not the array it was given', () => {
      const shaped = shapeModelOutput(withCalls, 'auto', true) as { output: Item[] };
      expect(shaped.output).not.toBe(withCalls);
    });
  });

  describe("tool_choice 'none'", () => {
    it.each([true, false])(
      'drops every call and keeps messages and reasoning in order (parallel %s)',
      (parallel) => {
        const output = [thought('Hmm.'), weather, say('It is'), lookup, say('sunny.')];
        expect(shapeModelOutput(output, 'none', parallel)).toEqual({
          output: [thought('Hmm.'), say('It is'), say('sunny.')],
        });
      },
    );

    it('returns an output without calls unchanged', () => {
      const output = [thought('Hmm.'), say('Sunny.')];
      expect(shapeModelOutput(output, 'none', true)).toEqual({ output });
    });
  });

  describe("tool_choice 'required'", () => {
    it.each<[string, Item[]]>([
      ['only text', [thought('Hmm.'), say('Sunny.')]],
      ['nothing', []],
    ])("is a 'tool_choice_violation' error when the model answers with %s", (_, output) => {
      expect(shapeModelOutput(output, 'required', true)).toEqual({
        error: {
          code: 'tool_choice_violation',
          message: expect.stringContaining('required') as string,
        },
      });
    });

    it('returns an output with calls unchanged', () => {
      expect(shapeModelOutput(withCalls, 'required', true)).toEqual({ output: withCalls });
    });

    it('keeps only the first call with parallel tool calls off', () => {
      expect(shapeModelOutput(withCalls, 'required', false)).toEqual({
        output: [thought('Two lookups.'), say('Checking.'), weather],
      });
    });
  });

  describe('a named function as tool_choice', () => {
    const named = (name: string): ModelToolChoice => ({ type: 'function', name });

    it('returns the output unchanged when the model called that function', () => {
      expect(shapeModelOutput(withCalls, named('lookup'), true)).toEqual({ output: withCalls });
    });

    it.each<[string, Item[]]>([
      ['other functions', withCalls],
      ['no function', [say('Sunny.')]],
    ])("is a 'tool_choice_violation' error naming it when the model called %s", (_, output) => {
      expect(shapeModelOutput(output, named('search'), true)).toEqual({
        error: {
          code: 'tool_choice_violation',
          message: expect.stringContaining("'search'") as string,
        },
      });
    });

    it('keeps the named call with parallel tool calls off when the model called it first', () => {
      expect(shapeModelOutput(withCalls, named('get_weather'), false)).toEqual({
        output: [thought('Two lookups.'), say('Checking.'), weather],
      });
    });

    // BUG (model-output.ts): with parallel calls off the first call is kept, whatever its
    // name, so a forced 'lookup' called second is dropped and 'get_weather' stays. Drop
    // `.failing` once the kept call is the first call to the named function.
    it('keeps the named call with parallel tool calls off when it came second', () => {
      expect(shapeModelOutput(withCalls, named('lookup'), false)).toEqual({
        output: [thought('Two lookups.'), say('Checking.'), lookup],
      });
    });
  });

  describe('parallel tool calls off', () => {
    it('keeps only the first call and every other item in order', () => {
      const output = [
        thought('Three.'),
        say('First'),
        weather,
        say('then'),
        lookup,
        thought('And again.'),
        weatherAgain,
      ];
      expect(shapeModelOutput(output, 'auto', false)).toEqual({
        output: [thought('Three.'), say('First'), weather, say('then'), thought('And again.')],
      });
    });

    it('keeps the first of two calls to the same function', () => {
      expect(shapeModelOutput([weather, weatherAgain], 'auto', false)).toEqual({
        output: [weather],
      });
    });
  });

  it('never changes the items it is given', () => {
    const output = Object.freeze([...withCalls]);
    for (const choice of ['none', 'auto', 'required'] as const) {
      shapeModelOutput(output, choice, false);
    }
    expect(output).toEqual([thought('Two lookups.'), say('Checking.'), weather, lookup]);
  });
});

describe('finalText', () => {
  it("is '' for an empty output", () => {
    expect(finalText([])).toBe('');
  });

  it("is '' when no assistant message was produced", () => {
    expect(finalText([userMessage('Hi'), weather, outputFor(weather, 'sunny')])).toBe('');
  });

  it('is the text of the last assistant message', () => {
    const output = [say('Let me check.'), weather, outputFor(weather, 'sunny'), say('Sunny.')];
    expect(finalText(output)).toBe('Sunny.');
  });

  it('ignores calls, call outputs and reasoning after the last assistant message', () => {
    const output = [say('Sunny.'), thought('Done?'), weather, outputFor(weather, 'x')];
    expect(finalText(output)).toBe('Sunny.');
  });

  it('ignores messages of other roles after the last assistant message', () => {
    expect(finalText([say('Sunny.'), userMessage('Thanks!')])).toBe('Sunny.');
  });

  it('joins the text parts of that message', () => {
    const message: MessageItem = {
      ...say('unused'),
      content: [
        { type: 'output_text', text: 'Sunny ', annotations: [] },
        { type: 'output_text', text: 'and warm.', annotations: [] },
      ],
    };
    expect(finalText([say('Earlier.'), message])).toBe('Sunny and warm.');
  });
});

describe('summarizeReasoning', () => {
  const raw: ReasoningItem = {
    type: 'reasoning',
    id: 'rs_raw',
    summary: [],
    content: [
      { type: 'reasoning_text', text: 'First this.' },
      { type: 'reasoning_text', text: 'Then that.' },
    ],
    status: 'completed',
  };

  it('gives reasoning that has only raw text that text as its summary, keeping the text', () => {
    expect(summarizeReasoning([raw, say('Done.')])).toEqual([
      { ...raw, summary: [{ type: 'summary_text', text: 'First this.\n\nThen that.' }] },
      say('Done.'),
    ]);
  });

  it('keeps a summary the model wrote, and reasoning with no text, as they are', () => {
    const summarized = { ...raw, summary: [{ type: 'summary_text' as const, text: 'In short.' }] };
    const empty: ReasoningItem = { ...raw, content: [] };
    expect(summarizeReasoning([summarized, empty])).toEqual([summarized, empty]);
  });
});
