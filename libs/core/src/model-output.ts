import type { FunctionCallItem, Item, ModelItem } from './items';
import { messageText } from './items';
import type { StepError } from './steps';

/** tool_choice as one model call gets it. */
export type ModelToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; name: string };

/**
 * Holds a model's answer to what it was asked: with `none`, calls it made anyway are dropped;
 * with `required` or a named function, an answer without that call is an error; with
 * parallel tool calls off, calls after the first are dropped (so every call that stays in
 * the conversation gets an output).
 */
export function shapeModelOutput(
  output: readonly ModelItem[],
  choice: ModelToolChoice,
  parallelToolCalls: boolean,
): { output: ModelItem[] } | { error: StepError } {
  const isCall = (item: ModelItem): item is FunctionCallItem => item.type === 'function_call';
  if (choice === 'none') return { output: output.filter((item) => !isCall(item)) };
  const calls = output.filter(isCall);
  if (choice === 'required' && calls.length === 0) {
    return {
      error: {
        code: 'tool_choice_violation',
        message: "The model answered without calling a tool although tool_choice is 'required'.",
      },
    };
  }
  if (typeof choice === 'object' && !calls.some((call) => call.name === choice.name)) {
    return {
      error: {
        code: 'tool_choice_violation',
        message: `The model did not call '${choice.name}' although tool_choice requires it.`,
      },
    };
  }
  if (parallelToolCalls || calls.length <= 1) return { output: [...output] };
  // The call tool_choice names is the one that must stay.
  const first =
    typeof choice === 'object' ? calls.find((call) => call.name === choice.name) : calls[0];
  return { output: output.filter((item) => !isCall(item) || item === first) };
}

/** What an agent answers its caller: the text of the last assistant message it produced. */
export function finalText(output: readonly Item[]): string {
  for (let i = output.length - 1; i >= 0; i--) {
    const item = output[i];
    if (item.type === 'message' && item.role === 'assistant') return messageText(item);
  }
  return '';
}

/**
 * Raw reasoning as a summary, for a request that asks for a reasoning summary
 * (`reasoning.summary`): most upstreams give reasoning only as raw text, and clients built
 * for OpenAI (the AI SDK, the Agents SDK) read only summaries. A reasoning item that has no
 * summary of its own gets its raw text as its summary; its raw text stays too.
 */
export function summarizeReasoning(output: readonly ModelItem[]): ModelItem[] {
  return output.map((item) => {
    if (item.type !== 'reasoning' || item.summary.length > 0 || !item.content?.length) {
      return item;
    }
    const text = item.content.map((part) => part.text).join('\n\n');
    return text === '' ? item : { ...item, summary: [{ type: 'summary_text', text }] };
  });
}
