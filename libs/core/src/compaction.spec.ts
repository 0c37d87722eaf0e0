import {
  clientItem,
  compactionPayload,
  SUMMARY_MESSAGE_PREFIX,
  summaryMessage,
  summaryOfPayload,
} from './compaction';
import { type CompactionItem, type Item, type MessageItem } from './items';
import { modelItems } from './server-calls';

const COMPACTION: CompactionItem = {
  type: 'compaction',
  id: 'cmp_1',
  encrypted_content: 'sealed',
  summary: 'They agreed on Tuesday.',
};

function message(role: MessageItem['role'], text: string, id = `msg_${role}`): MessageItem {
  return {
    type: 'message',
    id,
    role,
    status: 'completed',
    content: [{ type: 'input_text', text }],
  };
}

describe('compaction items', () => {
  it('show clients what they sent, never the opened summary', () => {
    expect(clientItem(COMPACTION)).toEqual({
      type: 'compaction',
      id: 'cmp_1',
      encrypted_content: 'sealed',
    });
    expect(clientItem({ ...COMPACTION, created_by: 'someone' })).toEqual({
      type: 'compaction',
      id: 'cmp_1',
      encrypted_content: 'sealed',
      created_by: 'someone',
    });
    const other = message('user', 'hi');
    expect(clientItem(other)).toBe(other);
  });

  it('reach the model as a developer message carrying the summary', () => {
    expect(summaryMessage(COMPACTION)).toEqual({
      type: 'message',
      id: 'msg_1',
      role: 'developer',
      status: 'completed',
      content: [{ type: 'input_text', text: `${SUMMARY_MESSAGE_PREFIX}\nThey agreed on Tuesday.` }],
    });
  });

  it('take the place of the compaction item in what the model reads', () => {
    const items: Item[] = [message('user', 'one'), COMPACTION, message('user', 'two')];
    expect(modelItems(items)).toEqual([items[0], summaryMessage(COMPACTION), items[2]]);
    expect(modelItems(items).some((item) => (item.type as string) === 'compaction')).toBe(false);
  });

  it('seal their summary as JSON that reads back', () => {
    const payload = compactionPayload('a "quoted"\nsummary');
    expect(summaryOfPayload(payload)).toBe('a "quoted"\nsummary');
    expect(summaryOfPayload('not json')).toBeNull();
    expect(summaryOfPayload('{"summary": 3}')).toBeNull();
    expect(summaryOfPayload('null')).toBeNull();
  });
});
