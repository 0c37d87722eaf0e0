import fc from 'fast-check';

// Hostile values, and JSON text that JSON.stringify cannot write: raw number literals (1e400,
// -0, 40-digit integers), lone-surrogate escapes, duplicate keys, `__proto__` as a key.

/** RATCHET_FUZZ_SCALE: 1 by default; nightly runs raise it. */
function fuzzScale(): number {
  const scale = Number(process.env.RATCHET_FUZZ_SCALE ?? '1');
  return Number.isFinite(scale) && scale > 0 ? scale : 1;
}

/** Budget: `base` cases times RATCHET_FUZZ_SCALE. */
export function fuzzRuns(base: number): number {
  return Math.max(1, Math.round(base * fuzzScale()));
}

/** Jest's timeout for one fuzz test, which grows with the budget. */
export function fuzzTestTimeout(): number {
  return 90_000 * Math.max(1, fuzzScale());
}

/**
 * fast-check's parameters: a seed from RATCHET_FUZZ_SEED when set (a failure prints the seed
 * and path that replay it, and the shrunk counterexample).
 */
export function fuzzParameters<T>(base: number): fc.Parameters<T> {
  const seed = process.env.RATCHET_FUZZ_SEED;
  return {
    numRuns: fuzzRuns(base),
    ...(seed !== undefined && seed !== '' ? { seed: Number(seed) } : {}),
    endOnFailure: false,
    // Shrinking talks to a real server: bounded, so a failure is reported in good time.
    maxSkipsPerRun: 10,
    // Stops generating before jest's timeout, so a slow machine runs fewer cases, not fails.
    interruptAfterTimeLimit: 75_000 * Math.max(1, fuzzScale()),
  };
}

/** JSON text written as it is: `new Raw('1e400')` serialises to 1e400. */
export class Raw {
  constructor(readonly text: string) {}
}

/** An object written key by key, so keys may repeat or be `__proto__`. */
export class Entries {
  constructor(readonly entries: [string, unknown][]) {}
}

/** JSON text of `value`, with Raw and Entries written as they say. */
export function toJsonText(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Entries) {
    return `{${value.entries.map(([key, item]) => `${JSON.stringify(key)}:${toJsonText(item)}`).join(',')}}`;
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : toJsonText(item))).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const parts = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .map(([key, item]) => `${JSON.stringify(key)}:${toJsonText(item)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Characters that break naive text handling. */
export const ODD_CHARACTERS = [
  '\u0000',
  '\u0001',
  '\u001f',
  '\u007f',
  '\ud800',
  '\udfff',
  '\udc00\ud800',
  '\ud83d\ude00',
  '\ufeff',
  '\u200e',
  '\u200f',
  '\u202e',
  '\u2028',
  '\u2029',
  '\ufffe',
  '\uffff',
  '\ufdd0',
  '\u{10ffff}',
  'e\u0301',
  '\\',
  '"',
  '%00',
  '%',
  '../',
  '${x}',
  '<script>',
  "'; DROP TABLE responses; --",
];

/** Strings with odd characters spliced into ordinary text. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc
    .array(fc.oneof(fc.constantFrom(...ODD_CHARACTERS), fc.string({ maxLength: 4 })), {
      maxLength: 8,
    })
    .map((parts) => parts.join('')),
);

/** A JSON string literal holding a lone surrogate as an escape, which JSON.parse keeps. */
export const loneSurrogateLiteral: fc.Arbitrary<Raw> = fc
  .tuple(fc.string({ maxLength: 4 }), fc.constantFrom('\\ud800', '\\udfff', '\\udbff\\u0041'))
  .map(([text, escape]) => new Raw(`${JSON.stringify(text).slice(0, -1)}${escape}"`));

/** Numbers at and past the edges, as JSON literals and as the strings clients send by mistake. */
export const extremeNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    new Raw('1e308'),
    new Raw('-1e308'),
    new Raw('1e400'),
    new Raw('-1e400'),
    new Raw('-0'),
    new Raw('0.0000000000000000000000001'),
    new Raw('123456789012345678901234567890123456789'),
    new Raw('9007199254740993'),
    new Raw('1E2'),
    new Raw('-1'),
    new Raw('0'),
    new Raw('16.5'),
    'NaN',
    'Infinity',
    '-Infinity',
    '1e309',
    '0x10',
    '',
    ' 1 ',
  ),
  fc.double(),
  fc.integer(),
);

/** Wrong types for any field. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, [], {}, [[]], [null], { '': '' }),
  extremeNumber,
  oddString,
  loneSurrogateLiteral,
);

/** Keys that prototype-polluting code would trip on. */
export const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  '\u0000',
  '\ud800',
];

/** Deep nesting of arrays or objects around `leaf`. */
export const deepValue: fc.Arbitrary<Raw> = fc
  .tuple(fc.integer({ min: 50, max: 20_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays
      ? new Raw(`${'['.repeat(depth)}1${']'.repeat(depth)}`)
      : new Raw(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`),
  );

/** Wide values: many keys or many items. */
export const wideValue: fc.Arbitrary<unknown> = fc
  .tuple(fc.integer({ min: 100, max: 5_000 }), fc.boolean())
  .map(([width, arrays]) =>
    arrays
      ? Array.from({ length: width }, (_, i) => i)
      : Object.fromEntries(Array.from({ length: width }, (_, i) => [`k${i}`, i])),
  );

/** A long string: near and past the usual limits. */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(65, 513, 4_097, 40_000),
    fc.constantFrom('a', 'é', '\ud83d\ude00', '\u0000'),
  )
  .map(([length, unit]) => unit.repeat(length));

/** Any hostile value. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: wrongValue },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: wideValue },
  { weight: 1, arbitrary: hugeString },
);

type Path = (string | number)[];

/** Every path to a value inside `value` (the root included, as []). */
function pathsOf(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((item, i) => pathsOf(item, [...prefix, i], out));
  else if (
    value !== null &&
    typeof value === 'object' &&
    !(value instanceof Raw) &&
    !(value instanceof Entries)
  ) {
    for (const [key, item] of Object.entries(value)) pathsOf(item, [...prefix, key], out);
  }
  return out;
}

function setAt(value: unknown, path: Path, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) {
    const copy: unknown[] = [...(value as unknown[])];
    copy[head as number] = setAt(copy[head as number], rest, replacement);
    return copy;
  }
  const record = value as Record<string, unknown>;
  return { ...record, [head]: setAt(record[head], rest, replacement) };
}

/** One mutation of a valid body: a value replaced, a key added or repeated, or a key removed. */
export type Mutation =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'add_key'; at: number; key: string; value: unknown }
  | { kind: 'duplicate_key'; at: number; value: unknown }
  | { kind: 'remove'; at: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('replace' as const),
      at: fc.nat(),
      value: hostileValue,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('add_key' as const),
      at: fc.nat(),
      key: fc.oneof(fc.constantFrom(...HOSTILE_KEYS), oddString),
      value: wrongValue,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('duplicate_key' as const),
      at: fc.nat(),
      value: wrongValue,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), at: fc.nat() }) },
);

/** `body` with `mutations` applied, at paths chosen among the values the body has. */
export function mutate(body: unknown, mutations: Mutation[]): unknown {
  let current = body;
  for (const change of mutations) {
    const paths = pathsOf(current);
    const path = paths[change.at % paths.length];
    const target = path.reduce<unknown>(
      (value, key) => (value as Record<string | number, unknown>)[key],
      current,
    );
    switch (change.kind) {
      case 'replace':
        current = setAt(current, path, change.value);
        break;
      case 'remove':
        if (path.length > 0) {
          const parentPath = path.slice(0, -1);
          const parent = parentPath.reduce<unknown>(
            (value, key) => (value as Record<string | number, unknown>)[key],
            current,
          );
          const key = path[path.length - 1];
          const without = Array.isArray(parent)
            ? parent.filter((_, i) => i !== key)
            : Object.fromEntries(Object.entries(parent as object).filter(([k]) => k !== key));
          current = setAt(current, parentPath, without);
        }
        break;
      case 'add_key':
      case 'duplicate_key':
        if (
          target !== null &&
          typeof target === 'object' &&
          !Array.isArray(target) &&
          !(target instanceof Raw)
        ) {
          const entries = target instanceof Entries ? target.entries : Object.entries(target);
          const key =
            change.kind === 'add_key'
              ? change.key
              : (entries[change.at % Math.max(1, entries.length)]?.[0] ?? 'model');
          current = setAt(current, path, new Entries([...entries, [key, change.value]]));
        }
        break;
    }
  }
  return current;
}
