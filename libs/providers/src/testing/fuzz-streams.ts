import fc from 'fast-check';
import { UpstreamError } from '../provider';

// Generators for the codec fuzz specs: what an upstream might answer, from the well-formed
// through the subtly wrong to garbage, as bytes split anywhere, and the property every codec
// must keep: a clean result or a classified UpstreamError, promptly, never anything else.

type Json = unknown;

/** Text that trips naive code: NUL, lone surrogates, BOM, non-characters, SSE framing. */
export const oddText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '\u0000',
      '\uD800',
      '\uDFFF',
      '\uDBFF\uDFFF',
      '\uFEFF',
      '\uFFFE',
      '\uFFFF',
      '😀',
      'é☀',
      '\r\n',
      '\r',
      '\n\ndata: {"x":1}\n\n',
      'data: [DONE]\n\n',
      '"',
      '\\',
      '\\u0000',
    ),
  },
);

/** A value of the wrong kind for whatever field it lands in. */
const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  oddText,
  fc.constant([]),
  fc.constant({}),
  fc.jsonValue({ maxDepth: 2 }),
);

/** One change to a JSON value: a field or element dropped, replaced, or one added. */
export interface Mutation {
  kind: 'drop' | 'replace' | 'extra';
  at: number;
  value: Json;
}

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom<Mutation['kind']>('drop', 'replace', 'extra'),
  at: fc.nat(),
  value: wrongValue,
});

/** `value` with `change` applied at one of its places (chosen by `change.at`). */
export function mutate(value: Json, change: Mutation): Json {
  const copy = structuredClone(value);
  const places: { parent: Record<string, Json> | Json[]; key: string | number }[] = [];
  const walk = (node: Json): void => {
    if (Array.isArray(node)) {
      node.forEach((child, index) => {
        places.push({ parent: node, key: index });
        walk(child);
      });
    } else if (node !== null && typeof node === 'object') {
      for (const [key, child] of Object.entries(node)) {
        places.push({ parent: node as Record<string, Json>, key });
        walk(child);
      }
    }
  };
  walk(copy);
  if (places.length === 0) return change.kind === 'drop' ? undefined : change.value;
  const { parent, key } = places[change.at % places.length];
  if (change.kind === 'replace') {
    (parent as Record<string | number, Json>)[key] = change.value;
  } else if (change.kind === 'drop') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
  } else if (Array.isArray(parent)) {
    parent.push(change.value);
  } else {
    parent[`extra_${change.at % 7}`] = change.value;
  }
  return copy;
}

/** What becomes of one well-formed frame of a stream. */
export type FrameFate =
  | { fate: 'keep' }
  | { fate: 'mutate'; changes: Mutation[] }
  | { fate: 'malformed'; cut: number }
  | { fate: 'unknown-before'; type: string }
  | { fate: 'drop' }
  | { fate: 'twice' };

export const frameFate: fc.Arbitrary<FrameFate> = fc.oneof(
  { weight: 60, arbitrary: fc.constant<FrameFate>({ fate: 'keep' }) },
  {
    weight: 3,
    arbitrary: fc
      .array(mutation, { minLength: 1, maxLength: 3 })
      .map((changes): FrameFate => ({ fate: 'mutate', changes })),
  },
  { weight: 1, arbitrary: fc.nat().map((cut): FrameFate => ({ fate: 'malformed', cut })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('response.unknown_thing', 'ping', 'error', 'message', 'weird.event', '')
      .map((type): FrameFate => ({ fate: 'unknown-before', type })),
  },
  { weight: 1, arbitrary: fc.constant<FrameFate>({ fate: 'drop' }) },
  { weight: 1, arbitrary: fc.constant<FrameFate>({ fate: 'twice' }) },
);

/** A stream frame before encoding: its SSE event name (if any) and its data (JSON or raw). */
export interface Frame {
  event?: string;
  data: Json;
  /** Data written as is (`[DONE]`), not as JSON. */
  raw?: boolean;
}

/** Frames as an SSE body, each frame's fate applied. */
export function encodeFrames(frames: readonly Frame[], fates: readonly FrameFate[]): string {
  const out: string[] = [];
  const write = (frame: Frame, data: string): void => {
    out.push(`${frame.event !== undefined ? `event: ${frame.event}\n` : ''}data: ${data}\n\n`);
  };
  frames.forEach((frame, index) => {
    const fate = fates[index] ?? { fate: 'keep' };
    const json = frame.raw ? String(frame.data) : JSON.stringify(frame.data);
    switch (fate.fate) {
      case 'keep':
        return write(frame, json);
      case 'mutate': {
        const data = fate.changes.reduce<Json>(
          (value, change) => mutate(value, change),
          frame.data,
        );
        return write(frame, frame.raw ? json : (JSON.stringify(data) ?? 'undefined'));
      }
      case 'malformed':
        return write(frame, json.slice(0, fate.cut % Math.max(1, json.length)));
      case 'unknown-before':
        write(
          { event: fate.type, data: null },
          JSON.stringify({ type: fate.type, stuff: [1, 'two'] }),
        );
        return write(frame, json);
      case 'drop':
        return;
      case 'twice':
        write(frame, json);
        return write(frame, json);
    }
  });
  return out.join('');
}

/** How the encoded bytes reach the decoder: cut short, and split into reads. */
export interface Delivery {
  /** Cut the body after this many bytes (modulo its length), or deliver it whole. */
  truncateAt: number | null;
  /** Where reads end, as offsets (modulo the length); anywhere, mid-character included. */
  splits: number[];
  /** Replace the body with noise bytes instead. */
  noise: Uint8Array | null;
}

export const delivery: fc.Arbitrary<Delivery> = fc.record({
  truncateAt: fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.nat() },
  ),
  splits: fc.array(fc.nat(), { maxLength: 40 }),
  noise: fc.oneof(
    { weight: 12, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) },
  ),
});

/** The bytes of `text` delivered as `how` says, as an async body. */
export function deliver(text: string, how: Delivery): Uint8Array[] {
  let bytes: Uint8Array = how.noise ?? Buffer.from(text, 'utf8');
  if (how.truncateAt !== null && bytes.length > 0) {
    bytes = bytes.subarray(0, how.truncateAt % bytes.length);
  }
  const cuts = [...new Set(how.splits.map((at) => (bytes.length ? at % bytes.length : 0)))].sort(
    (a, b) => a - b,
  );
  const reads: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > start) reads.push(bytes.subarray(start, cut));
    start = Math.max(start, cut);
  }
  return reads;
}

export async function* asBody(reads: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const read of reads) {
    await Promise.resolve();
    yield read;
  }
}

/** How long one decode may take before it counts as a hang. */
const HANG_MS = 2_000;

/**
 * The property: `run` yields a result or rejects with an UpstreamError, within HANG_MS. Any
 * other rejection (a TypeError from a field that was not there, say) fails the property.
 */
export async function cleanOrClassified(run: () => unknown): Promise<'result' | 'classified'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the decoder did not settle in ${HANG_MS} ms`)),
      HANG_MS,
    );
  });
  try {
    const result = await Promise.race([Promise.resolve().then(run), hang]);
    if (result !== undefined) {
      const output = (result as { output?: unknown }).output;
      if (!Array.isArray(output)) throw new Error('a result without an output array');
    }
    return 'result';
  } catch (error) {
    if (error instanceof UpstreamError) return 'classified';
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Counts how the runs of a property ended, to check that both ends are reached. */
export class Outcomes {
  result = 0;
  classified = 0;

  add(outcome: 'result' | 'classified'): void {
    this[outcome] += 1;
  }

  /** Both a fair share of clean results and of classified errors came out. */
  expectBoth(): void {
    const total = this.result + this.classified;
    expect(this.result).toBeGreaterThan(total * 0.05);
    expect(this.classified).toBeGreaterThan(total * 0.05);
  }
}

/** The whole-body variant: a body text made from a template, a few mutations, or garbage. */
export function bodyText(template: Json): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(JSON.stringify(template)) },
    {
      weight: 6,
      arbitrary: fc
        .array(mutation, { minLength: 1, maxLength: 4 })
        .map((changes) => JSON.stringify(changes.reduce<Json>(mutate, template)) ?? ''),
    },
    {
      weight: 1,
      arbitrary: fc.nat().map((cut) => {
        const text = JSON.stringify(template);
        return text.slice(0, cut % text.length);
      }),
    },
    { weight: 1, arbitrary: oddText },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  );
}

/**
 * Milliseconds `decode` takes for a stream built by `build(n)`, best of three, for checking
 * that decoding costs grow linearly with the answer's size.
 */
export async function decodeTime(
  decode: (reads: Uint8Array[]) => Promise<unknown>,
  reads: Uint8Array[],
): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    await decode(reads);
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

/** Splits `text` into reads of `size` bytes. */
export function readsOf(text: string, size: number): Uint8Array[] {
  const bytes = Buffer.from(text, 'utf8');
  const reads: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) {
    reads.push(bytes.subarray(offset, offset + size));
  }
  return reads;
}

/**
 * The stream property every codec must have: a generated stream, each frame given a fate
 * (kept, mutated, cut, preceded by an unknown event, dropped or sent twice) and the whole
 * delivered in generated reads, decodes to a result or fails with a classified UpstreamError;
 * over the run, both outcomes come out.
 */
export async function expectStreamsDecodeOrClassify(
  stream: fc.Arbitrary<Frame[]>,
  decode: (reads: readonly Uint8Array[]) => unknown,
  parameters: fc.Parameters<[[Frame[], FrameFate[]], Delivery]>,
): Promise<void> {
  const outcomes = new Outcomes();
  await fc.assert(
    fc.asyncProperty(
      stream.chain((frames) =>
        fc.tuple(
          fc.constant(frames),
          fc.array(frameFate, { minLength: frames.length, maxLength: frames.length }),
        ),
      ),
      delivery,
      async ([frames, fates], how) => {
        outcomes.add(
          await cleanOrClassified(() => decode(deliver(encodeFrames(frames, fates), how))),
        );
      },
    ),
    parameters,
  );
  outcomes.expectBoth();
}
