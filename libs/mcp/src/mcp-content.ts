import type { CallToolResult, ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import type { ContentPart } from '@ratchet/core';

// An MCP tool result has two readers. The model gets content parts it can take in (text,
// images as data URLs, PDFs as files) and a short note for anything else, so it knows what
// the tool returned even when it cannot see it. Clients get one plain text (the `mcp_call`
// item's `output`), where binary content is described, never dumped.
//
//   MCP content                      model (`parts`)                  clients (`text`)
//   text                             input_text                       the text
//   image png/jpeg/gif/webp          input_image, data URL            [image: type, size]
//   image of another type            input_text note                  [image: type, size]
//   audio                            input_text note                  [audio: type, size]
//   resource with text               input_text, uri header + text    uri header + text
//   resource blob, image as above    input_image, data URL            [resource: uri (type), size]
//   resource blob, application/pdf   input_file, data URL + filename  [resource: uri (type), size]
//   resource blob, textual type      input_text, uri header + text    [resource: uri (type), size]
//   resource blob, other             input_text note                  [resource: uri (type), size]
//   resource_link                    input_text note with uri         the same note
//   no content, structuredContent    input_text, its JSON             its JSON

/** Image types every upstream ratchet speaks to accepts as input_image. */
const MODEL_IMAGE_TYPES: ReadonlySet<string> = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
]);

/** Types whose bytes are text, so a model reads them better decoded than as an opaque file. */
const TEXTUAL_TYPE =
  /^(text\/|application\/(json|xml|yaml|x-yaml|javascript|csv|x-ndjson)$|[^;]*\+(json|xml)$)/;

/** What a tool result becomes for the model and for clients. */
export interface McpRenderedContent {
  parts: ContentPart[];
  text: string;
}

/** Renders a tool result's content (or, without content, its structuredContent). */
export function renderToolContent(
  result: Pick<CallToolResult, 'content' | 'structuredContent'>,
): McpRenderedContent {
  const blocks = result.content ?? [];
  if (blocks.length === 0 && result.structuredContent !== undefined) {
    const json = JSON.stringify(result.structuredContent);
    return { parts: [inputText(json)], text: json };
  }
  const rendered = blocks.map(renderBlock);
  return {
    parts: rendered.map((block) => block.part),
    text: rendered.map((block) => block.text).join('\n'),
  };
}

function renderBlock(block: ContentBlock): { part: ContentPart; text: string } {
  switch (block.type) {
    case 'text':
      return { part: inputText(block.text), text: block.text };
    case 'image': {
      const note = `[image: ${block.mimeType}, ${describeSize(block.data)}]`;
      return { part: imagePart(block.mimeType, block.data) ?? inputText(note), text: note };
    }
    case 'audio': {
      const note = `[audio: ${block.mimeType}, ${describeSize(block.data)}]`;
      return { part: inputText(note), text: note };
    }
    case 'resource': {
      const { resource } = block;
      const header = `[resource: ${resource.uri}${resource.mimeType ? ` (${resource.mimeType})` : ''}]`;
      if ('text' in resource) {
        const text = `${header}\n${resource.text}`;
        return { part: inputText(text), text };
      }
      const note = `[resource: ${resource.uri} (${resource.mimeType ?? 'binary'}), ${describeSize(resource.blob)}]`;
      return {
        part: blobPart(resource.uri, resource.mimeType, resource.blob, header, note),
        text: note,
      };
    }
    case 'resource_link': {
      const details = [block.mimeType, block.size !== undefined ? formatBytes(block.size) : null]
        .filter((detail) => detail)
        .join(', ');
      const note =
        `[resource link: ${block.name} <${block.uri}>${details ? ` (${details})` : ''}]` +
        (block.description ? ` ${block.description}` : '');
      return { part: inputText(note), text: note };
    }
  }
}

function inputText(text: string): ContentPart {
  return { type: 'input_text', text };
}

function imagePart(mimeType: string, base64: string): ContentPart | null {
  const type = mimeType.toLowerCase();
  if (!MODEL_IMAGE_TYPES.has(type)) return null;
  return { type: 'input_image', image_url: `data:${type};base64,${base64}`, detail: 'auto' };
}

function blobPart(
  uri: string,
  mimeType: string | undefined,
  base64: string,
  header: string,
  note: string,
): ContentPart {
  const type = mimeType?.toLowerCase().split(';')[0].trim() ?? '';
  const image = imagePart(type, base64);
  if (image) return image;
  if (type === 'application/pdf') {
    return {
      type: 'input_file',
      file_data: `data:${type};base64,${base64}`,
      filename: fileName(uri, 'document.pdf'),
    };
  }
  if (TEXTUAL_TYPE.test(type)) {
    const decoded = decodeUtf8(base64);
    if (decoded !== null) return inputText(`${header}\n${decoded}`);
  }
  return inputText(note);
}

/** The text of UTF-8 bytes, or null when they are not valid UTF-8 (then they are no text). */
function decodeUtf8(base64: string): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(base64, 'base64'));
  } catch {
    return null;
  }
}

/** The last path segment of a resource URI, which upstreams show as the file's name. */
function fileName(uri: string, fallback: string): string {
  try {
    const segment = new URL(uri).pathname.split('/').pop();
    return segment ? decodeURIComponent(segment) : fallback;
  } catch {
    return fallback;
  }
}

/** Decoded size of base64 data, without decoding it. */
export function base64Bytes(base64: string): number {
  const padding = base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((base64.length * 3) / 4) - padding);
}

function describeSize(base64: string): string {
  return formatBytes(base64Bytes(base64));
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
