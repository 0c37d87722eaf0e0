import type { FunctionCallItem, FunctionCallOutputItem, MessageItem, ModelItem } from './items';
import { type ContextBudget, fitInput } from './truncation';

// Token estimates here are one token per character of text, to keep the arithmetic visible.

function message(id: string, role: MessageItem['role'], text: string): MessageItem {
  return {
    type: 'message',
    id,
    role,
    status: 'completed',
    content: [
      role === 'assistant'
        ? { type: 'output_text', text, annotations: [], logprobs: [] }
        : { type: 'input_text', text },
    ],
  };
}

function call(id: string, callId: string, args: string): FunctionCallItem {
  return {
    type: 'function_call',
    id,
    call_id: callId,
    name: 'f',
    arguments: args,
    status: 'completed',
  };
}

function output(id: string, callId: string, text: string): FunctionCallOutputItem {
  return { type: 'function_call_output', id, call_id: callId, output: text, status: 'completed' };
}

function tokensOf(item: ModelItem): number {
  switch (item.type) {
    case 'message':
      return item.content.reduce((sum, part) => sum + ('text' in part ? part.text.length : 0), 0);
    case 'function_call':
      return item.arguments.length;
    case 'function_call_output':
      return typeof item.output === 'string' ? item.output.length : 0;
    case 'reasoning':
      return 0;
  }
}

function budget(contextWindow: number, overrides: Partial<ContextBudget> = {}): ContextBudget {
  return { contextWindow, reservedOutputTokens: 0, fixedTokens: 0, ...overrides };
}

const ids = (items: readonly ModelItem[]): string[] => items.map((item) => item.id);

describe('fitInput', () => {
  const conversation: ModelItem[] = [
    message('u1', 'user', '0123456789'), // 10
    message('a1', 'assistant', '0123456789'), // 10
    message('u2', 'user', '0123456789'), // 10
    message('a2', 'assistant', '0123456789'), // 10
    message('u3', 'user', '01234'), // 5
  ];

  it('keeps an input that fits as it is', () => {
    const fit = fitInput(conversation, budget(45), tokensOf);
    expect(fit).toEqual({ fits: true, input: conversation, dropped: [], estimatedTokens: 45 });
  });

  it('drops whole items from the oldest end until the input fits', () => {
    const fit = fitInput(conversation, budget(30), tokensOf);
    expect(fit).toEqual({
      fits: true,
      input: conversation.slice(2),
      dropped: ['u1', 'a1'],
      estimatedTokens: 25,
    });
  });

  it('counts fixed tokens and keeps room for the answer', () => {
    // 45 of items + 6 fixed against 60 - 20: two items must go.
    const fit = fitInput(
      conversation,
      budget(60, { reservedOutputTokens: 20, fixedTokens: 6 }),
      tokensOf,
    );
    expect(fit.fits && fit.dropped).toEqual(['u1', 'a1']);
  });

  it('never drops the newest user message or what follows it', () => {
    const input = [
      ...conversation,
      call('c', 'call_1', '0123456789'),
      output('o', 'call_1', '01234'),
    ];
    const fit = fitInput(input, budget(20), tokensOf);
    expect(fit).toEqual({
      fits: true,
      input: input.slice(4),
      dropped: ['u1', 'a1', 'u2', 'a2'],
      estimatedTokens: 20,
    });
  });

  it('fails, with the estimate of what must stay, when even that does not fit', () => {
    const fit = fitInput(
      conversation,
      budget(10, { fixedTokens: 3, reservedOutputTokens: 4 }),
      tokensOf,
    );
    expect(fit).toEqual({ fits: false, estimatedTokens: 8, limit: 6 });
  });

  it('keeps system and developer messages, as it keeps instructions', () => {
    const input: ModelItem[] = [
      message('s', 'system', 'sys'),
      message('u1', 'user', '0123456789'),
      message('d', 'developer', 'dev'),
      message('a1', 'assistant', '0123456789'),
      message('u2', 'user', '01234'),
    ];
    const fit = fitInput(input, budget(12), tokensOf);
    expect(fit.fits && ids(fit.input)).toEqual(['s', 'd', 'u2']);
    expect(fit.fits && fit.dropped).toEqual(['u1', 'a1']);
  });

  it('drops a function call together with its outputs, never one without the other', () => {
    const input: ModelItem[] = [
      message('u1', 'user', '01'),
      call('c1', 'call_1', '01'),
      call('c2', 'call_2', '01'),
      output('o1', 'call_1', '0123456789'),
      output('o2', 'call_2', '0123456789'),
      message('a1', 'assistant', '0123'),
      message('u2', 'user', '01'),
    ];
    // Dropping u1 and c1 (with o1) is enough: c2 and o2 stay together.
    const fit = fitInput(input, budget(20), tokensOf);
    expect(fit).toEqual({
      fits: true,
      input: [input[2], input[4], input[5], input[6]],
      dropped: ['u1', 'c1', 'o1'],
      estimatedTokens: 18,
    });
  });

  it('keeps a call whose output is in the kept part, and drops what is older and newer', () => {
    const input: ModelItem[] = [
      message('u1', 'user', '0123456789'),
      call('c1', 'call_1', '0123'),
      message('a1', 'assistant', '0123456789'),
      message('u2', 'user', '01'),
      output('o1', 'call_1', '01'),
    ];
    const fit = fitInput(input, budget(10), tokensOf);
    expect(fit.fits && ids(fit.input)).toEqual(['c1', 'u2', 'o1']);
  });

  it('keeps at least the newest item of an input without a user message', () => {
    const input: ModelItem[] = [
      message('a1', 'assistant', '0123456789'),
      message('a2', 'assistant', '01234'),
    ];
    const fit = fitInput(input, budget(5), tokensOf);
    expect(fit.fits && ids(fit.input)).toEqual(['a2']);
    expect(fitInput([], budget(0), tokensOf)).toMatchObject({ fits: true, input: [] });
  });

  it('is deterministic: the same input and budget drop the same items', () => {
    expect(fitInput(conversation, budget(30), tokensOf)).toEqual(
      fitInput(conversation, budget(30), tokensOf),
    );
  });
});
