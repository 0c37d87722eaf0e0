import type { UnsequencedEvent } from '../events';

// Events the specs share.

/** A text delta of the message `msg_1` at output 0, part 0. */
export const textDelta = (text: string): UnsequencedEvent => ({
  type: 'response.output_text.delta',
  item_id: 'msg_1',
  output_index: 0,
  content_index: 0,
  delta: text,
  logprobs: [],
});
