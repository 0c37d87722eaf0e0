import {
  assembleConversation,
  assertDistinctItemIds,
  itemList,
  parseAddConversationItems,
  parseCreateConversation,
  parseUpdateConversation,
} from './conversation';
import { RatchetError } from './errors';
import { assistantMessage } from './items';

/** The RatchetError that `parse` throws; fails the test when it does not. */
function rejection(parse: () => unknown): RatchetError {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(RatchetError);
    return error as RatchetError;
  }
  throw new Error('expected a rejection');
}

const userMessage = { role: 'user', content: 'Hi' };

describe('parseCreateConversation', () => {
  it('accepts no body, an empty body, and items with metadata', () => {
    expect(parseCreateConversation(undefined)).toEqual({});
    expect(parseCreateConversation({})).toEqual({});
    expect(
      parseCreateConversation({
        items: [userMessage, { type: 'item_reference', id: 'msg_1' }, { id: 'msg_2' }],
        metadata: { topic: 'demo' },
      }),
    ).toEqual({
      items: [
        { type: 'message', role: 'user', content: 'Hi' },
        { type: 'item_reference', id: 'msg_1' },
        { type: 'item_reference', id: 'msg_2' },
      ],
      metadata: { topic: 'demo' },
    });
  });

  it.each([
    [[], null, 'invalid_body'],
    [{ items: 'x' }, 'items', 'invalid_type'],
    [{ items: [{ role: 'user', content: 3 }] }, 'items[0].content', 'invalid_type'],
    [{ items: Array.from({ length: 21 }, () => userMessage) }, 'items', 'invalid_value'],
    [{ metadata: { k: 'v'.repeat(513) } }, 'metadata.k', 'invalid_value'],
    [{ name: 'x' }, 'name', 'unknown_parameter'],
  ])('rejects %j naming the field', (body, param, code) => {
    const error = rejection(() => parseCreateConversation(body));
    expect(error).toMatchObject({ kind: 'invalid_request', param, code });
  });
});

describe('parseUpdateConversation', () => {
  it('takes metadata, null to clear it', () => {
    expect(parseUpdateConversation({ metadata: { a: 'b' } })).toEqual({ metadata: { a: 'b' } });
    expect(parseUpdateConversation({ metadata: null })).toEqual({ metadata: null });
  });

  it('requires metadata', () => {
    expect(rejection(() => parseUpdateConversation({}))).toMatchObject({
      param: 'metadata',
      code: 'missing_required_parameter',
    });
  });
});

describe('parseAddConversationItems', () => {
  it('takes 1 to 20 items', () => {
    expect(parseAddConversationItems({ items: [userMessage] }).items).toHaveLength(1);
    expect(rejection(() => parseAddConversationItems({ items: [] })).param).toBe('items');
    expect(
      rejection(() =>
        parseAddConversationItems({ items: Array.from({ length: 21 }, () => userMessage) }),
      ).param,
    ).toBe('items');
    expect(rejection(() => parseAddConversationItems({})).code).toBe('missing_required_parameter');
  });
});

describe('assertDistinctItemIds', () => {
  it('names the second item with an id already given', () => {
    const items = [assistantMessage('msg_a', 'x'), assistantMessage('msg_b', 'y')];
    expect(() => assertDistinctItemIds(items, 'items')).not.toThrow();
    const error = rejection(() =>
      assertDistinctItemIds([...items, assistantMessage('msg_a', 'z')], 'items'),
    );
    expect(error).toMatchObject({ param: 'items[2].id', code: 'duplicate_item_id' });
  });
});

describe('conversation objects', () => {
  it('assembles a Conversation as OpenAI shows it', () => {
    expect(
      assembleConversation({
        id: 'conv_1',
        metadata: { a: 'b' },
        createdAt: new Date('2026-03-04T05:06:07.890Z'),
      }),
    ).toEqual({
      id: 'conv_1',
      object: 'conversation',
      created_at: 1772600767,
      metadata: { a: 'b' },
    });
  });

  it('lists items with the ids of the first and the last', () => {
    const items = [assistantMessage('msg_a', 'x'), assistantMessage('msg_b', 'y')];
    expect(itemList(items, true)).toEqual({
      object: 'list',
      data: items,
      first_id: 'msg_a',
      last_id: 'msg_b',
      has_more: true,
    });
    expect(itemList([], false)).toEqual({
      object: 'list',
      data: [],
      first_id: null,
      last_id: null,
      has_more: false,
    });
  });
});
