import type { CreateResponseRequest, FunctionTool, ModelToolChoice } from '@ratchet/core';
import type { TextFormat } from '@ratchet/providers';

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
