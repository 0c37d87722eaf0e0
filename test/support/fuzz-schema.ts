import fc from 'fast-check';
import type { z } from 'zod';

// Request bodies drawn from the zod schemas the API validates with, so every field, item type
// and content part the schemas know is generated without a second, hand-kept list of them.
// Values stay small: these bodies exercise the accepted paths, and mutations (fuzz-values.ts)
// bring the hostile ones.

/** Arbitraries that replace what the schema would give at a field path (`input`, `model`). */
export type Overrides = Record<string, fc.Arbitrary<unknown>>;

interface Def {
  type: string;
  [key: string]: unknown;
}

const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

interface CheckDef {
  check: string;
  value?: number;
  inclusive?: boolean;
  minimum?: number;
  maximum?: number;
  pattern?: RegExp;
}

const checksOf = (def: Def): CheckDef[] =>
  ((def.checks as { _zod: { def: CheckDef } }[] | undefined) ?? []).map((check) => check._zod.def);

const shortText = fc.string({ maxLength: 12 });

/** An arbitrary for values `schema` accepts (mostly: refinements are not followed). */
export function arbitraryOf(
  schema: z.ZodType,
  overrides: Overrides = {},
  path = '',
  depth = 0,
): fc.Arbitrary<unknown> {
  if (path in overrides) return overrides[path];
  const def = defOf(schema);
  const child = (inner: unknown, at: string): fc.Arbitrary<unknown> =>
    arbitraryOf(inner as z.ZodType, overrides, at, depth + 1);
  switch (def.type) {
    case 'string': {
      const checks = checksOf(def);
      const pattern = checks.find((check) => check.pattern)?.pattern;
      if (pattern) return fc.stringMatching(pattern).filter((text) => text.length <= 64);
      const min = checks.find((check) => check.check === 'min_length')?.minimum ?? 0;
      const max = checks.find((check) => check.check === 'max_length')?.maximum ?? 12;
      return fc.string({ minLength: min, maxLength: Math.max(min, Math.min(max, 12)) });
    }
    case 'number': {
      const checks = checksOf(def);
      const min = checks.find((check) => check.check === 'greater_than')?.value ?? -1000;
      const max = checks.find((check) => check.check === 'less_than')?.value ?? 1000;
      if (def.format === 'safeint') return fc.integer({ min, max: Math.max(min, max) });
      return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
    }
    case 'int':
      return fc.integer({ min: -1000, max: 1000 });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'literal':
      return fc.constantFrom(...(def.values as unknown[]));
    case 'enum':
      return fc.constantFrom(...Object.values(def.entries as Record<string, unknown>));
    case 'optional':
      return fc.option(child(def.innerType, path), { nil: undefined, freq: 3 });
    case 'nullable':
      return fc.option(child(def.innerType, path), { nil: null, freq: 4 });
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
      return fc.option(child(def.innerType, path), { nil: undefined, freq: 3 });
    case 'pipe':
      // A preprocess is a pipe from a transform into the real schema.
      return defOf(def.in).type === 'transform' ? child(def.out, path) : child(def.in, path);
    case 'union':
      return fc.oneof(...(def.options as unknown[]).map((option) => child(option, path)));
    case 'array':
      if (depth > 6) return fc.constant([]);
      return fc.array(child(def.element, `${path}[]`), { maxLength: 3 });
    case 'record':
      return fc.dictionary(
        fc.string({ maxLength: 8 }),
        depth > 6 ? fc.constant('x') : child(def.valueType, `${path}{}`),
        { maxKeys: 3 },
      );
    case 'object': {
      const shape = def.shape as Record<string, unknown>;
      const keys = Object.keys(shape);
      const required = keys.filter((key) => {
        const type = defOf(shape[key]).type;
        return type !== 'optional' && type !== 'default' && type !== 'nullable';
      });
      return fc.record(
        Object.fromEntries(
          keys.map((key) => [key, child(shape[key], path ? `${path}.${key}` : key)]),
        ),
        { requiredKeys: required },
      );
    }
    case 'unknown':
    case 'any':
      return depth > 6 ? fc.constant(null) : fc.jsonValue({ maxDepth: 2 });
    case 'lazy':
      return child((def.getter as () => unknown)(), path);
    default:
      return shortText;
  }
}
