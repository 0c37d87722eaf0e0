import type { CreateResponseRequest, FunctionTool } from '@ratchet/core';
import type { TextFormat, ToolChoice } from '@ratchet/providers';

/**
 * The tools and tool choice a model call is given. `allowed_tools` narrows the offered
 * tools to its list and keeps its mode; a named function must be one of the offered tools.
 */
export function toolsForModel(
  definitions: readonly FunctionTool[],
  choice: CreateResponseRequest['tool_choice'],
): { tools: FunctionTool[]; toolChoice: ToolChoice } {
  if (choice === undefined) return { tools: [...definitions], toolChoice: 'auto' };
  if (typeof choice === 'string') return { tools: [...definitions], toolChoice: choice };
  if (choice.type === 'function') return { tools: [...definitions], toolChoice: choice };
  const allowed = new Set(choice.tools.map((tool) => tool.name));
  return { tools: definitions.filter((tool) => allowed.has(tool.name)), toolChoice: choice.mode };
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
