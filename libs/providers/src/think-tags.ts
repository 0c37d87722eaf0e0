// Inline reasoning in Chat Completions content, shared by the streaming and whole decoders.

export interface ContentPiece {
  kind: 'text' | 'reasoning';
  text: string;
}

const OPEN_TAG = '<think>';
const CLOSE_TAG = '</think>';

/**
 * Splits streamed `content` into reasoning and text when a server (vLLM or Ollama without a
 * reasoning parser, DeepSeek-R1 distills) puts the model's thinking inline as
 * `<think>...</think>`. Only a span at the very start of the content counts (after
 * whitespace): that is where these models put it, and an answer that merely mentions the tag
 * stays text. Characters that might begin a tag are held back until the next piece decides,
 * so a tag split across chunks (`<thi` + `nk>`) is still recognised. Whitespace between the
 * tags and their neighbours is dropped, as the tags' own formatting.
 */
export class ThinkTagSplitter {
  private state: 'start' | 'thinking' | 'answer' = 'start';
  private held = '';
  /** Drop leading whitespace of the next reasoning or text, right after a tag. */
  private trimNext = false;

  push(piece: string): ContentPiece[] {
    const out: ContentPiece[] = [];
    this.held += piece;
    this.drain(out);
    return out;
  }

  /** Whatever is still held back once the content is over. */
  end(): ContentPiece[] {
    const rest = this.held;
    this.held = '';
    if (!rest) return [];
    // An unfinished span (a cut-off turn) was still thinking; an unfinished opening tag or
    // bare whitespace at the start was text after all.
    return this.emit(this.state === 'thinking' ? 'reasoning' : 'text', rest);
  }

  private drain(out: ContentPiece[]): void {
    if (this.state === 'start') {
      const trimmed = this.held.trimStart();
      if (trimmed.startsWith(OPEN_TAG)) {
        this.state = 'thinking';
        this.trimNext = true;
        this.held = trimmed.slice(OPEN_TAG.length);
      } else if (OPEN_TAG.startsWith(trimmed)) {
        return;
      } else {
        this.state = 'answer';
      }
    }
    if (this.state === 'thinking') {
      const close = this.held.indexOf(CLOSE_TAG);
      if (close === -1) {
        const keep = partialTagLength(this.held, CLOSE_TAG);
        out.push(...this.emit('reasoning', this.held.slice(0, this.held.length - keep)));
        this.held = this.held.slice(this.held.length - keep);
        return;
      }
      out.push(...this.emit('reasoning', this.held.slice(0, close)));
      this.held = this.held.slice(close + CLOSE_TAG.length);
      this.state = 'answer';
      this.trimNext = true;
    }
    const text = this.held;
    this.held = '';
    out.push(...this.emit('text', text));
  }

  private emit(kind: ContentPiece['kind'], raw: string): ContentPiece[] {
    const text = this.trimNext ? raw.trimStart() : raw;
    if (!text) return [];
    this.trimNext = false;
    return [{ kind, text }];
  }
}

/** How many trailing characters of `text` could be the start of `tag`. */
function partialTagLength(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) {
    if (text.endsWith(tag.slice(0, length))) return length;
  }
  return 0;
}
