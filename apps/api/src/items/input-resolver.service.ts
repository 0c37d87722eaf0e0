import { Injectable } from '@nestjs/common';
import { normalizeInput, storedItemsNeeded, type InputItem, type Item } from '@ratchet/core';
import { StoredItemsRepository, type Principal } from '@ratchet/store';

/**
 * Turns input items into stored items, resolving `item_reference` items to the stored items
 * they name (and server calls sent without their outcome to the stored calls): all of a
 * request's lookups at once, among the items the caller may see.
 */
@Injectable()
export class InputResolver {
  constructor(private readonly items: StoredItemsRepository) {}

  /** `field` names the input in errors: `input[2].id`, `items[0].id`. */
  async resolve(
    input: string | InputItem[] | undefined,
    principal: Principal,
    field = 'input',
  ): Promise<Item[]> {
    const needed = storedItemsNeeded(input);
    const [byId, serverCallsByCallId] = await Promise.all([
      this.items.byIds(needed.ids, principal),
      this.items.serverCallsByCallIds(needed.callIds, principal),
    ]);
    return normalizeInput(input, { byId, serverCallsByCallId }, field);
  }
}
