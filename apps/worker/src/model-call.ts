import { contextWindowOf, type ModelConfig } from '@ratchet/config';
import {
  fitInput,
  type CreateResponseRequest,
  type FunctionTool,
  type ModelToolChoice,
  type StepTruncation,
} from '@ratchet/core';
import {
  ANTHROPIC_DEFAULT_MAX_TOKENS,
  estimateTokens,
  itemChars,
  type ModelCallRequest,
  type TextFormat,
  UpstreamError,
} from '@ratchet/providers';

/**
 * The tools and tool choice one model call gets. The request's `tool_choice` governs the
 * first model call of the top scope; later calls (after tool results) and sub-agents choose
 * freely (`auto`), or they could never answer. `none` holds throughout, as does a spent
 * max_tool_calls budget. `allowed_tools` narrows the offered tools and keeps its mode.
 */
export function toolsForModel(
  definitions: readonly FunctionTool[],
  request: CreateResponseRequest,
  call: { topScope: boolean; round: number; toolCallsLeft: number | null },
): { tools: FunctionTool[]; toolChoice: ModelToolChoice } {
  const choice = call.topScope ? request.tool_choice : undefined;
  if (choice === 'none' || call.toolCallsLeft === 0) {
    return { tools: [...definitions], toolChoice: 'none' };
  }
  if (choice !== undefined && typeof choice === 'object' && choice.type === 'allowed_tools') {
    const allowed = new Set(choice.tools.map((tool) => tool.name));
    const tools = definitions.filter((tool) => allowed.has(tool.name));
    return { tools, toolChoice: call.round === 0 ? choice.mode : 'auto' };
  }
  if (choice === undefined || call.round > 0)
    return { tools: [...definitions], toolChoice: 'auto' };
  return { tools: [...definitions], toolChoice: choice };
}

export function textFormatForModel(request: CreateResponseRequest): TextFormat | null {
  const format = request.text?.format;
  if (!format || format.type === 'text') return null;
  if (format.type === 'json_object') return format;
  return {
    type: 'json_schema',
    name: format.name,
    schema: format.schema,
    ...(format.description !== undefined ? { description: format.description } : {}),
    strict: format.strict ?? null,
  };
}

/** A model call's input fitted to one model's context window, and what was left out. */
export interface FittedCall {
  request: ModelCallRequest;
  /** Null when nothing was left out. */
  truncation: StepTruncation | null;
}

/**
 * `truncation: "auto"` for one model: the call's input fitted into the model's context window
 * (fitInput), estimated as usage is (four characters a token). A model without a known window
 * takes the input as it is. When even the items that must stay do not fit, the call fails with
 * `context_length_exceeded`, as the upstream would.
 */
export function fitToContextWindow(
  call: ModelCallRequest,
  model: { name: string; config: ModelConfig },
): FittedCall {
  const contextWindow = contextWindowOf(model.name, model.config);
  if (contextWindow === null) return { request: call, truncation: null };
  // Tool definitions are read as their JSON schema text, roughly.
  const toolChars = call.tools.length > 0 ? JSON.stringify(call.tools).length : 0;
  const fixedChars = (call.instructions?.length ?? 0) + toolChars;
  const fit = fitInput(
    call.input,
    {
      contextWindow,
      reservedOutputTokens: reservedOutputTokens(model.config, call.maxOutputTokens),
      fixedTokens: estimateTokens(fixedChars),
    },
    (item) => estimateTokens(itemChars(item)),
  );
  if (!fit.fits) {
    throw new UpstreamError(
      `The input does not fit model '${model.name}' (context window ${contextWindow} tokens): ` +
        `what truncation keeps (instructions, tools, system and developer messages, the newest ` +
        `user message and everything after it) is about ${fit.estimatedTokens} tokens, and ` +
        `${fit.limit} fit beside the room kept for the answer.`,
      { code: 'context_length_exceeded', retryable: false },
    );
  }
  if (fit.dropped.length === 0) return { request: call, truncation: null };
  return {
    request: { ...call, input: fit.input },
    truncation: {
      droppedItemIds: fit.dropped,
      estimatedInputTokens: fit.estimatedTokens,
      contextWindow,
    },
  };
}

/**
 * Tokens of the window an upstream keeps for the answer: the call's output limit, and for
 * Anthropic (which always sends one) its default when the call sets none.
 */
function reservedOutputTokens(config: ModelConfig, maxOutputTokens: number | null): number {
  if (maxOutputTokens !== null) return maxOutputTokens;
  return config.provider === 'anthropic' ? ANTHROPIC_DEFAULT_MAX_TOKENS : 0;
}
