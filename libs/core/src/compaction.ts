import type { CompactionItem, Item, MessageItem } from './items';

// Compaction items, from the client's side and the model's. A client holds only the sealed
// summary (`encrypted_content`); ratchet keeps the opened summary beside it in the stored
// item, and the model reads that summary as a developer message where the item stands.

/** What a sealed compaction summary is bound to: a sealed value of another kind never opens as one. */
export const COMPACTION_SEAL_PURPOSE = 'compaction';

/** The text a compaction item's summary message opens with. */
export const SUMMARY_MESSAGE_PREFIX = 'Summary of the earlier conversation:';

/** A compaction item as clients see it: ratchet's opened summary is not theirs to read. */
export type ClientCompactionItem = Omit<CompactionItem, 'summary'>;

/** An item as clients see it (in input_items, and in what the compact endpoint returns). */
export type ClientItem = Exclude<Item, CompactionItem> | ClientCompactionItem;

/** `item` without what only ratchet may read. */
export function clientItem(item: Item): ClientItem {
  if (item.type !== 'compaction') return item;
  const { summary: _summary, ...shown } = item;
  return shown;
}

/**
 * What the model reads for a compaction item: its summary as a developer message (codecs
 * for upstreams without that role lift it into their system text, or send it as system).
 */
export function summaryMessage(item: CompactionItem): MessageItem {
  return {
    type: 'message',
    id: `msg_${item.id.replace(/^cmp_/, '')}`,
    role: 'developer',
    status: 'completed',
    content: [{ type: 'input_text', text: `${SUMMARY_MESSAGE_PREFIX}\n${item.summary}` }],
  };
}

/** The text a compaction item seals: JSON, so later versions can add to it. */
export function compactionPayload(summary: string): string {
  return JSON.stringify({ summary });
}

/** The summary of an opened payload, or null when the payload is not one. */
export function summaryOfPayload(payload: string): string | null {
  try {
    const parsed: unknown = JSON.parse(payload);
    if (parsed !== null && typeof parsed === 'object' && 'summary' in parsed) {
      const summary = parsed.summary;
      if (typeof summary === 'string') return summary;
    }
  } catch {
    // not JSON
  }
  return null;
}
