import { Injectable } from '@nestjs/common';
import { normalizeInput, referencedItemIds, type InputItem, type Item } from '@ratchet/core';
import { StoredItemsRepository, type Principal } from '@ratchet/store';

/**
 * Turns input items into stored items, resolving `item_reference` items to the stored items
 * they name: all references of a request in one lookup, among the items the caller may see.
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
    const references = await this.items.byIds(referencedItemIds(input), principal);
    return normalizeInput(input, references, field);
  }
}
