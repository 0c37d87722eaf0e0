import { RatchetError } from './errors';
import type { FunctionCallOutputItem, Item } from './items';

/**
 * The position in `input` of the first function_call_output whose call_id names no
 * function_call before it (in the conversation it continues, or earlier in `input`), or -1
 * when every output answers a call. An output nobody asked for cannot be paired with its
 * call: models cannot read it and upstreams refuse it, so a request carrying one is refused.
 */
export function unpairedOutputIndex(previous: readonly Item[], input: readonly Item[]): number {
  const calls = new Set<string>();
  const collect = (item: Item): void => {
    if (item.type === 'function_call') calls.add(item.call_id);
  };
  previous.forEach(collect);
  for (const [index, item] of input.entries()) {
    if (item.type === 'function_call_output' && !calls.has(item.call_id)) return index;
    collect(item);
  }
  return -1;
}

/**
 * Refuses a function_call_output that answers no call before it (in the conversation it
 * continues, or earlier in the input): models cannot read it and upstreams refuse it.
 */
export function assertOutputsPaired(previous: readonly Item[], input: readonly Item[]): void {
  const unpaired = unpairedOutputIndex(previous, input);
  if (unpaired < 0) return;
  const callId = (input[unpaired] as FunctionCallOutputItem).call_id;
  throw RatchetError.invalid(
    `No tool call found for function call output with call_id '${callId}': it must answer a function_call earlier in the input or in the previous response.`,
    `input[${unpaired}].call_id`,
    'function_call_not_found',
  );
}
