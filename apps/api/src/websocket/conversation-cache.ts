import type { Item } from '@ratchet/core';

/** How many conversations one connection keeps at most. */
export const MAX_HELD_CONVERSATIONS = 16;

/**
 * What a connection's store:false responses produced (each one's context followed by its
 * output), which only that connection may continue with previous_response_id. Bounded: at
 * most `maxEntries` conversations and `maxBytes` of their JSON together, the least recently
 * used leaving first. The newest stays even when it alone is over the budget, so a chain never
 * breaks merely by growing; memory stays bounded by the largest conversation plus the budget.
 */
export class ConversationCache {
  private readonly entries = new Map<string, { items: Item[]; bytes: number }>();
  private totalBytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries = MAX_HELD_CONVERSATIONS,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The conversation a response ended with; using it makes it the most recently used. */
  get(responseId: string): Item[] | undefined {
    const entry = this.entries.get(responseId);
    if (!entry) return undefined;
    this.entries.delete(responseId);
    this.entries.set(responseId, entry);
    return entry.items;
  }

  remember(responseId: string, items: Item[]): void {
    this.forget(responseId);
    const bytes = Buffer.byteLength(JSON.stringify(items));
    this.entries.set(responseId, { items, bytes });
    this.totalBytes += bytes;
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= 1) break;
      if (this.entries.size <= this.maxEntries && this.totalBytes <= this.maxBytes) break;
      this.forget(oldest);
    }
  }

  forget(responseId: string): void {
    const entry = this.entries.get(responseId);
    if (!entry) return;
    this.entries.delete(responseId);
    this.totalBytes -= entry.bytes;
  }
}
