import { topScopeIdOf } from './scope-id';

/**
 * A request's input items are the last items of its top scope's input: a response starts from
 * its history followed by its input (ResponsesService). So an input item is stored only where
 * the scope's input does not hold it as such (`storedInputItem`), and read back from there
 * (`inputItemOf`); the input is then written once, not twice, however long the history a
 * client sends with every request (migration 20261205110000_input_items_by_reference).
 */

/**
 * The item of `input_items` row `i`: as stored, or, stored as null, the item at its place
 * among the last items of its response's top scope's input (n items, n - 1 the highest
 * position: the primary key's last entry for the response).
 */
export const inputItemOf = (i: string): string =>
  `coalesce(${i}.item, (
     SELECT s.input -> (jsonb_array_length(s.input) - 1 + ${i}.position
                        - (SELECT max(n.position) FROM input_items n
                            WHERE n.response_id = ${i}.response_id))
       FROM scopes s WHERE s.id = ${topScopeIdOf(`${i}.response_id`)}))`;

/**
 * What the insert of input item `item` at `position`, of `count` items in all, stores when
 * the top scope starts from `context`: null when the context ends with the items and holds
 * this one as such, the item otherwise.
 */
export const storedInputItem = (
  item: string,
  position: string,
  count: string,
  context: string,
): string =>
  `CASE WHEN ${item} = ${context} -> (jsonb_array_length(${context}) - ${count} + ${position})
        THEN NULL ELSE ${item} END`;

/**
 * Stores the input items of response `responseId` whole that are read from its top scope's
 * input, before an adoption gives the scope the input of the tree it adopts (a CTE body).
 */
export const STORE_INPUT_ITEMS_WHOLE = (responseId: string): string =>
  `UPDATE input_items i SET item = ${inputItemOf('i')}
    WHERE i.response_id = ${responseId} AND i.item IS NULL`;
