import { Injectable } from '@nestjs/common';
import {
  COMPACTION_SEAL_PURPOSE,
  normalizeInput,
  storedItemsNeeded,
  summaryOfPayload,
  unreadableCompaction,
  type InputItem,
  type Item,
} from '@ratchet/core';
import { Sealer, StoredItemsRepository, type Principal, type UnsealFailure } from '@ratchet/store';

/** What a client is told about a compaction item that does not open, by why it did not. */
const UNSEALED_BECAUSE: Readonly<Record<UnsealFailure, string>> = {
  malformed: 'it is not a compaction item ratchet made (it was altered or cut short)',
  other_key:
    'it was made by another deployment, or under a RATCHET_SECRET_KEY that has since changed',
  tampered: 'it was altered after ratchet made it',
};

/**
 * Turns input items into stored items, with what they need that only the server has: an
 * `item_reference` becomes the stored item it names, a server call sent without its outcome
 * takes the stored call's, both found at once among the items the caller may see; and a
 * compaction item's sealed summary is opened (one that does not open is the request's error).
 */
@Injectable()
export class InputResolver {
  constructor(
    private readonly items: StoredItemsRepository,
    private readonly sealer: Sealer,
  ) {}

  /** `field` names the input in errors: `input[2].id`, `items[0].id`. */
  async resolve(
    input: string | InputItem[] | null | undefined,
    principal: Principal,
    field = 'input',
  ): Promise<Item[]> {
    const needed = storedItemsNeeded(input);
    const [byId, serverCallsByCallId, compactionSummaries] = await Promise.all([
      this.items.byIds(needed.ids, principal),
      this.items.serverCallsByCallIds(needed.callIds, principal),
      this.openSummaries(input, field),
    ]);
    return normalizeInput(input, { byId, serverCallsByCallId, compactionSummaries }, field);
  }

  /** The summaries sealed in the input's compaction items, by position. */
  private async openSummaries(
    input: string | InputItem[] | null | undefined,
    field: string,
  ): Promise<Map<number, string>> {
    const summaries = new Map<number, string>();
    if (!Array.isArray(input)) return summaries;
    for (const [index, item] of input.entries()) {
      if (item.type !== 'compaction') continue;
      const opened = await this.sealer.unseal(COMPACTION_SEAL_PURPOSE, item.encrypted_content);
      const at = `${field}[${index}]`;
      if (!opened.ok) throw unreadableCompaction(at, UNSEALED_BECAUSE[opened.reason]);
      const summary = summaryOfPayload(opened.plaintext);
      if (summary === null) throw unreadableCompaction(at, UNSEALED_BECAUSE.malformed);
      summaries.set(index, summary);
    }
    return summaries;
  }
}
