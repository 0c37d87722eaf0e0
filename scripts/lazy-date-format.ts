import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Plugin } from 'esbuild';

// An esbuild plugin for the app bundles: Nest's two default loggers stop building an
// Intl.DateTimeFormat as their modules load, and build it the first time they format a
// timestamp instead.
//
// The first DateTimeFormat a process makes loads ICU's locale and time-zone data from node's
// binary: about 6 MB more resident memory (file-backed pages of /usr/bin/node) in every
// ratchet process, from start-up on. ratchet logs through pino, so Nest's own loggers, which
// only use the formatter when they print, never need it in a running app (docs/memory.md,
// "ICU data").

/** The Nest modules that build the formatter at load, by their path in the package. */
const FILES = ['console-logger.service.js', 'logger.service.js'].map((file) =>
  ['@nestjs', 'common', 'services', file].join(path.sep),
);

/** The module-scope declaration in each of them, up to its arguments. */
const EAGER = 'const dateTimeFormatter = new Intl.DateTimeFormat(';

/**
 * The same name, bound to an object with the one method Nest calls, `format`, which builds
 * the formatter on first use with the arguments the eager declaration passed (`args`, the
 * source text between its parentheses).
 */
function lazy(args: string): string {
  return [
    `const dateTimeFormatterArgs = [${args}];`,
    'let dateTimeFormatterInstance;',
    'const dateTimeFormatter = {',
    '  format: (date) =>',
    '    (dateTimeFormatterInstance ??= new Intl.DateTimeFormat(...dateTimeFormatterArgs)).format(date),',
    '};',
  ].join('\n');
}

export const lazyDateFormat: Plugin = {
  name: 'lazy-date-format',
  setup(build) {
    const changed = new Set<string>();
    build.onStart(() => changed.clear());
    build.onLoad(
      { filter: /[\\/]@nestjs[\\/]common[\\/]services[\\/][\w.-]+\.js$/ },
      async (args) => {
        const file = FILES.find((suffix) => args.path.endsWith(suffix));
        if (file === undefined) return undefined;
        const source = await readFile(args.path, 'utf8');
        const start = source.indexOf(EAGER);
        const end = start < 0 ? -1 : source.indexOf('});', start);
        if (start < 0 || end < 0 || source.includes(EAGER, end)) {
          // A Nest release that changed these lines: say so rather than bundle them unchanged.
          throw new Error(`no single "${EAGER}...});" to make lazy`);
        }
        changed.add(file);
        const declaration = lazy(source.slice(start + EAGER.length, end + 1));
        return {
          contents: source.slice(0, start) + declaration + source.slice(end + 3),
          loader: 'js',
        };
      },
    );
    build.onEnd((result) => {
      // Every app bundles both; a file Nest moved would otherwise be left eager, unnoticed.
      const missing = FILES.filter((file) => !changed.has(file));
      if (result.errors.length > 0 || missing.length === 0) return undefined;
      return { errors: [{ text: `not in the bundle: ${missing.join(', ')}` }] };
    });
  },
};
