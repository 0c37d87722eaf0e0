import { RatchetError } from './errors';
import type { Item, McpCallItem } from './items';
import { NO_LOOKUPS, normalizeInput, storedItemsNeeded } from './normalize';
import { parseCreateResponse } from './request';

/** Validates `input` the way the API does, then normalises it. */
function normalize(input: unknown): Item[] {
  return normalizeInput(parseCreateResponse({ model: 'm', input }).input);
}

/** The single item `input` normalises to. */
function only(item: unknown): Item {
  const items = normalize([item]);
  expect(items).toHaveLength(1);
  return items[0];
}

/** A fresh id as ids.ts makes them: the prefix, an underscore and 48 hex characters. */
const generatedId = (prefix: string) => new RegExp(`^${prefix}_[0-9a-f]{24}$`);

/** The item's id and the rest of it, to check a generated id apart from the fields. */
function splitId(item: Item): [string, Omit<Item, 'id'>] {
  const { id, ...rest } = item;
  return [id, rest];
}

describe('normalizeInput', () => {
  it('turns no input into no items', () => {
    expect(normalizeInput(undefined)).toEqual([]);
    expect(normalize([])).toEqual([]);
  });

  it('turns a string into one completed user message with an input_text part', () => {
    const items = normalize('Hello there');
    expect(items).toHaveLength(1);
    const [id, rest] = splitId(items[0]);
    expect(id).toMatch(generatedId('msg'));
    expect(rest).toEqual({
      type: 'message',
      role: 'user',
      status: 'completed',
      content: [{ type: 'input_text', text: 'Hello there' }],
    });
  });

  describe('messages', () => {
    it.each(['user', 'system', 'developer'])(
      'turns string content of a %s message into an input_text part',
      (role) => {
        expect(only({ role, content: 'Hi' })).toMatchObject({
          type: 'message',
          role,
          content: [{ type: 'input_text', text: 'Hi' }],
        });
      },
    );

    it('turns string content of an assistant message into an output_text part', () => {
      expect(only({ role: 'assistant', content: 'Hello!' })).toMatchObject({
        role: 'assistant',
        content: [{ type: 'output_text', text: 'Hello!', annotations: [], logprobs: [] }],
      });
    });

    it('keeps a list of parts as it is', () => {
      const content = [
        { type: 'input_text', text: 'What is this?' },
        { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'high' },
      ];
      expect(only({ role: 'user', content })).toMatchObject({ content });
    });

    it('keeps the id and status the client gave', () => {
      expect(
        only({
          type: 'message',
          id: 'msg_client',
          role: 'user',
          content: 'x',
          status: 'incomplete',
        }),
      ).toMatchObject({ id: 'msg_client', status: 'incomplete' });
    });

    it('generates a msg_ id and defaults the status to completed', () => {
      const item = only({ role: 'user', content: 'x' });
      expect(item.id).toMatch(generatedId('msg'));
      expect(item).toMatchObject({ status: 'completed' });
    });

    it.each(['commentary', 'final_answer'])("keeps an assistant message's phase %s", (phase) => {
      expect(only({ role: 'assistant', content: 'x', phase })).toMatchObject({ phase });
    });

    it('leaves phase out when the client sent none, or null', () => {
      expect(only({ role: 'assistant', content: 'x' })).not.toHaveProperty('phase');
      expect(only({ role: 'assistant', content: 'x', phase: null })).not.toHaveProperty('phase');
    });
  });

  describe('function calls and outputs', () => {
    const call = { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{"a":1}' };
    const output = { type: 'function_call_output', call_id: 'call_1', output: 'done' };

    it('generates an fc_ id for a function_call and defaults its status', () => {
      const [id, rest] = splitId(only(call));
      expect(id).toMatch(generatedId('fc'));
      expect(rest).toEqual({ ...call, status: 'completed' });
    });

    it('generates an fco_ id for a function_call_output and defaults its status', () => {
      const [id, rest] = splitId(only(output));
      expect(id).toMatch(generatedId('fco'));
      expect(rest).toEqual({ ...output, status: 'completed' });
    });

    it('keeps the ids and statuses the client gave', () => {
      expect(only({ ...call, id: 'fc_client', status: 'in_progress' })).toMatchObject({
        id: 'fc_client',
        status: 'in_progress',
      });
      expect(only({ ...output, id: 'fco_client', status: 'incomplete' })).toMatchObject({
        id: 'fco_client',
        status: 'incomplete',
      });
    });
  });

  describe('reasoning', () => {
    const reasoning = { type: 'reasoning', summary: [{ type: 'summary_text', text: 'hmm' }] };

    it('generates an rs_ id and leaves out an empty encrypted_content', () => {
      const item = only({ ...reasoning, encrypted_content: null });
      const [id, rest] = splitId(item);
      expect(id).toMatch(generatedId('rs'));
      expect(rest).toEqual(reasoning);
      expect(item).not.toHaveProperty('encrypted_content');
    });

    it('keeps the id and the encrypted_content the client gave', () => {
      expect(only({ ...reasoning, id: 'rs_client', encrypted_content: 'opaque' })).toEqual({
        ...reasoning,
        id: 'rs_client',
        encrypted_content: 'opaque',
      });
    });
  });

  describe('server calls (mcp_call) sent back by full-history clients', () => {
    const call = {
      type: 'mcp_call',
      id: 'mcp_abc',
      server_label: 'http',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    };

    it('keeps what the client sent, with the model call id it carried', () => {
      expect(
        only({ ...call, call_id: 'call_x', output: 'sunny', error: null, status: 'completed' }),
      ).toEqual({ ...call, call_id: 'call_x', output: 'sunny', error: null, status: 'completed' });
    });

    it('fills in what a client left out: call id, output, error and status', () => {
      expect(only(call)).toEqual({
        ...call,
        call_id: 'call_abc',
        output: null,
        error: null,
        status: 'completed',
      });
      expect(only({ ...call, error: 'tool_timeout: Too slow.' })).toMatchObject({
        status: 'failed',
      });
    });

    it('takes the outcome of one sent without it from the stored call', () => {
      const stored: McpCallItem = {
        ...call,
        type: 'mcp_call',
        call_id: 'call_x',
        output: 'sunny',
        error: null,
        status: 'completed',
      };
      const input = parseCreateResponse({ model: 'm', input: [call] }).input;
      expect(storedItemsNeeded(input)).toEqual({ ids: ['mcp_abc'], callIds: [] });
      const byId = new Map([['mcp_abc', stored]]);
      expect(normalizeInput(input, { ...NO_LOOKUPS, byId })).toEqual([stored]);
    });

    it('finds by its call_id one sent without its id, and takes the stored id too', () => {
      const stored: McpCallItem = {
        ...call,
        type: 'mcp_call',
        call_id: 'call_x',
        output: 'sunny',
        error: null,
        status: 'completed',
      };
      const { id: _id, ...withoutId } = call;
      const input = parseCreateResponse({
        model: 'm',
        input: [{ ...withoutId, call_id: 'call_x' }],
      }).input;
      expect(storedItemsNeeded(input)).toEqual({ ids: [], callIds: ['call_x'] });
      const serverCallsByCallId = new Map([['call_x', stored]]);
      expect(normalizeInput(input, { ...NO_LOOKUPS, serverCallsByCallId })).toEqual([stored]);
      // Unknown, it still gets an id of its own.
      expect(normalizeInput(input)[0].id).toMatch(generatedId('mcp'));
    });

    it('rejects one without a name, naming the field', () => {
      const { name: _name, ...withoutName } = call;
      expect(() => normalize([withoutName])).toThrow(
        expect.objectContaining({ param: 'input[0].name' }) as Error,
      );
    });
  });

  describe('compaction items', () => {
    /** Normalises with the summaries the API opened, by position. */
    const withSummaries = (input: unknown[], summaries: [number, string][]): Item[] =>
      normalizeInput(parseCreateResponse({ model: 'm', input }).input, {
        ...NO_LOOKUPS,
        compactionSummaries: new Map(summaries),
      });

    it('keep what the client sent and take their opened summary', () => {
      const item = { type: 'compaction', id: 'cmp_1', encrypted_content: 'sealed' };
      expect(withSummaries([{ role: 'user', content: 'a' }, item], [[1, 'Said a.']])[1]).toEqual({
        ...item,
        summary: 'Said a.',
      });
      expect(
        withSummaries([{ ...item, created_by: 'someone' }], [[0, 'Said a.']])[0],
      ).toMatchObject({ created_by: 'someone' });
    });

    it('get a cmp_ id when sent without one', () => {
      const [item] = withSummaries([{ type: 'compaction', encrypted_content: 'x' }], [[0, 's']]);
      expect(item.id).toMatch(generatedId('cmp'));
      const [withNull] = withSummaries(
        [{ type: 'compaction', id: null, encrypted_content: 'x' }],
        [[0, 's']],
      );
      expect(withNull.id).toMatch(generatedId('cmp'));
    });

    it('are refused without an opened summary, naming their encrypted_content', () => {
      expect(() =>
        normalize([
          { role: 'user', content: 'a' },
          { type: 'compaction', encrypted_content: 'x' },
        ]),
      ).toThrow(
        expect.objectContaining({
          kind: 'invalid_request',
          param: 'input[1].encrypted_content',
          code: 'invalid_encrypted_content',
        }) as Error,
      );
    });
  });

  it('gives every item its own id and keeps the order', () => {
    const items = normalize([
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
      { type: 'function_call', call_id: 'c', name: 'f', arguments: '{}' },
    ]);
    expect(items.map((item) => item.type)).toEqual(['message', 'message', 'function_call']);
    expect(new Set(items.map((item) => item.id)).size).toBe(3);
  });

  describe('item references', () => {
    const stored: Item = {
      type: 'message',
      id: 'msg_stored',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text: 'Earlier.', annotations: [], logprobs: [] }],
    };
    const references = {
      ...NO_LOOKUPS,
      byId: new Map<string, Item>([['msg_stored', stored]]),
    };

    function normalizeWith(input: unknown, field?: string): Item[] {
      return normalizeInput(parseCreateResponse({ model: 'm', input }).input, references, field);
    }

    it('become the stored item they name, in place', () => {
      const items = normalizeWith([
        { role: 'user', content: 'a' },
        { type: 'item_reference', id: 'msg_stored' },
        { role: 'user', content: 'b' },
      ]);
      expect(items.map((item) => item.id)).toEqual([
        expect.stringMatching(generatedId('msg')),
        'msg_stored',
        expect.stringMatching(generatedId('msg')),
      ]);
      expect(items[1]).toEqual(stored);
    });

    it('resolve any stored item type, as stored', () => {
      const mcpCall = { type: 'mcp_call', id: 'mcp_1', name: 'search', arguments: '{}' };
      const items = normalizeInput([{ type: 'item_reference', id: 'mcp_1' }], {
        ...NO_LOOKUPS,
        byId: new Map([['mcp_1', mcpCall as unknown as Item]]),
      });
      expect(items).toEqual([mcpCall]);
    });

    it.each([
      [undefined, 'input[2].id'],
      ['items', 'items[2].id'],
    ])('name the reference not found by field and position (field %s)', (field, param) => {
      let thrown: unknown;
      try {
        normalizeWith(
          [
            { role: 'user', content: 'a' },
            { type: 'item_reference', id: 'msg_stored' },
            { type: 'item_reference', id: 'msg_elsewhere' },
          ],
          field,
        );
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(RatchetError);
      expect(thrown).toMatchObject({
        kind: 'invalid_request',
        param,
        code: 'item_not_found',
        message: "Item with id 'msg_elsewhere' not found.",
      });
    });

    it('are listed by referencedItemIds, each id once', () => {
      const input = parseCreateResponse({
        model: 'm',
        input: [
          { type: 'item_reference', id: 'a' },
          { role: 'user', content: 'x' },
          { type: 'item_reference', id: 'b' },
          { type: 'item_reference', id: 'a' },
        ],
      }).input;
      expect(storedItemsNeeded(input).ids).toEqual(['a', 'b']);
      expect(storedItemsNeeded('text')).toEqual({ ids: [], callIds: [] });
      expect(storedItemsNeeded(undefined)).toEqual({ ids: [], callIds: [] });
    });
  });
});
