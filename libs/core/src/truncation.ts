import type { ModelItem } from './items';

// `truncation: "auto"`: when a model call's input would not fit the model's context window,
// whole items are dropped from the oldest end until it does. What the model must not lose is
// kept: the instructions (not items, counted as fixed), system and developer messages (the
// instructions of clients that send them as items), and the newest user message with
// everything after it (the turn being answered). A function call and its outputs go
// together, so the model never reads an output without its call or a call left unanswered.

export interface ContextBudget {
  /** Tokens the model reads at most. */
  contextWindow: number;
  /** Tokens kept free for the answer (the output limit, when the upstream counts it in). */
  reservedOutputTokens: number;
  /** Tokens of what every call sends besides the items: instructions, tool definitions. */
  fixedTokens: number;
}

/** What fitting an input did. */
export type InputFit =
  | {
      fits: true;
      /** The input to send: the original, or what is left of it. */
      input: ModelItem[];
      /** Ids of the items left out, oldest first. */
      dropped: string[];
      /** The estimated tokens of what is sent: fixed tokens and the items kept. */
      estimatedTokens: number;
    }
  | {
      fits: false;
      /** The estimated tokens of what could not be dropped. */
      estimatedTokens: number;
      /** The most the input may take: the window less the tokens kept for the answer. */
      limit: number;
    };

/**
 * Fits `input` into `budget`, estimating each item's tokens with `tokensOf`. Pure: the same
 * input and budget always drop the same items.
 */
export function fitInput(
  input: readonly ModelItem[],
  budget: ContextBudget,
  tokensOf: (item: ModelItem) => number,
): InputFit {
  const limit = budget.contextWindow - budget.reservedOutputTokens;
  const tokens = input.map(tokensOf);
  let total = budget.fixedTokens + tokens.reduce((sum, count) => sum + count, 0);
  if (total <= limit) return { fits: true, input: [...input], dropped: [], estimatedTokens: total };

  const protectedFrom = newestTurnStart(input);
  const pairs = callGroups(input);
  const dropped = new Set<number>();
  for (let index = 0; index < protectedFrom && total > limit; index++) {
    if (dropped.has(index) || isPinned(input[index])) continue;
    const unit = unitOf(input, index, pairs);
    // A call whose output sits in the kept part (or the reverse) stays with it.
    if (unit.some((member) => member >= protectedFrom)) continue;
    for (const member of unit) {
      dropped.add(member);
      total -= tokens[member];
    }
  }
  if (total > limit) return { fits: false, estimatedTokens: total, limit };
  return {
    fits: true,
    input: input.filter((_item, index) => !dropped.has(index)),
    dropped: [...dropped].sort((a, b) => a - b).map((index) => input[index].id),
    estimatedTokens: total,
  };
}

/**
 * Where the kept tail starts: the newest user message, or, when there is none, the newest
 * item (a conversation must keep something to answer).
 */
function newestTurnStart(input: readonly ModelItem[]): number {
  for (let index = input.length - 1; index >= 0; index--) {
    const item = input[index];
    if (item.type === 'message' && item.role === 'user') return index;
  }
  return Math.max(0, input.length - 1);
}

/** System and developer messages: instructions given as items, never dropped. */
function isPinned(item: ModelItem): boolean {
  return item.type === 'message' && (item.role === 'system' || item.role === 'developer');
}

/** Indexes of the function calls and outputs of each call id. */
function callGroups(input: readonly ModelItem[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  input.forEach((item, index) => {
    if (item.type !== 'function_call' && item.type !== 'function_call_output') return;
    const group = groups.get(item.call_id) ?? [];
    group.push(index);
    groups.set(item.call_id, group);
  });
  return groups;
}

/** The items that go together with the one at `index`: itself, or a call and its outputs. */
function unitOf(
  input: readonly ModelItem[],
  index: number,
  groups: ReadonlyMap<string, number[]>,
): number[] {
  const item = input[index];
  if (item.type !== 'function_call' && item.type !== 'function_call_output') return [index];
  return groups.get(item.call_id) ?? [index];
}
