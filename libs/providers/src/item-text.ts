import type { ContentPart } from '@ratchet/core';

// Text views of content parts, for upstreams and tools that only take plain text.

/** The text a part carries (input_text, output_text, refusal), or null for images and files. */
export function partText(part: ContentPart): string | null {
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      return part.text;
    case 'refusal':
      return part.refusal;
    case 'input_image':
    case 'input_file':
      return null;
  }
}

/** The text of parts joined; parts without text are left out. */
export function contentText(parts: readonly ContentPart[]): string {
  return parts
    .map(partText)
    .filter((text) => text !== null)
    .join('');
}

/** A function_call_output's output as text (array outputs are flattened). */
export function toolOutputText(output: string | readonly ContentPart[]): string {
  return typeof output === 'string' ? output : contentText(output);
}
