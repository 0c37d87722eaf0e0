import { replaceOnce, type SourcePatch } from './source-patch-plugin';

// What the app bundles change in their dependencies' source, and why. Each patch defers or
// skips work that a running ratchet process does not need at start-up, or leaves out a part
// of a package that ratchet never uses; either costs every process resident memory from the
// start on (docs/memory.md, "ICU data", "Node's built-in fetch" and "BullMQ, bundled").

/**
 * Nest's two default loggers build an Intl.DateTimeFormat as their modules load. The first
 * DateTimeFormat a process makes loads ICU's locale and time-zone data from node's binary,
 * about 6 MB of file-backed pages. ratchet logs through pino; Nest's own loggers use the
 * formatter only when they print. The declaration becomes an object with the one method Nest
 * calls, `format`, which builds the formatter with the same arguments on first use.
 */
function lazyDateFormat(file: string): SourcePatch {
  const eager = 'const dateTimeFormatter = new Intl.DateTimeFormat(';
  return {
    packageName: '@nestjs/common',
    file: `services/${file}`,
    apply(source) {
      const start = source.indexOf(eager);
      const end = start < 0 ? -1 : source.indexOf('});', start);
      if (start < 0 || end < 0 || source.includes(eager, end)) {
        throw new Error(`expected exactly one "${eager}...});"`);
      }
      const args = source.slice(start + eager.length, end + 1);
      const lazy = [
        `const dateTimeFormatterArgs = [${args}];`,
        'let dateTimeFormatterInstance;',
        'const dateTimeFormatter = {',
        '  format: (date) =>',
        '    (dateTimeFormatterInstance ??= new Intl.DateTimeFormat(...dateTimeFormatterArgs)).format(date),',
        '};',
      ].join('\n');
      return source.slice(0, start) + lazy + source.slice(end + 3);
    },
  };
}

/**
 * Node 20 defines `Headers`, `Response`, `Request` and `FormData` as globals that load its own
 * copy of undici (fetch) the first time any of them is read: about 3 MB more resident memory
 * per process (its module, and the WebAssembly HTTP parser it compiles). Two modules read one
 * as they load, though nothing in ratchet calls the global fetch:
 *
 * - undici's cookie helpers build their brand check from both undici's own `Headers` and the
 *   global one. It is built on the helpers' first call instead, from the same two.
 * - pg tells whether it runs in a Cloudflare Worker by building a global `Response` (Node 20
 *   has no `navigator` to ask). The bundles run on Node only (`platform: 'node'`), so they take
 *   pg's Node socket functions directly.
 */
const WEB_GLOBALS_AT_LOAD: SourcePatch[] = [
  {
    packageName: 'undici',
    file: 'lib/web/cookies/index.js',
    apply: (source) =>
      replaceOnce(
        source,
        'const brandChecks = webidl.brandCheckMultiple([Headers, globalThis.Headers].filter(Boolean))',
        [
          'let brandCheck',
          'const brandChecks = (headers) =>',
          '  (brandCheck ??= webidl.brandCheckMultiple([Headers, globalThis.Headers].filter(Boolean)))(headers)',
        ].join('\n'),
      ),
  },
  {
    packageName: 'pg',
    file: 'lib/stream.js',
    apply: (source) =>
      replaceOnce(
        source,
        'const { getStream, getSecureStream } = getStreamFuncs()',
        'const { getStream, getSecureStream } = getNodejsStreamFuncs()',
      ),
  },
];

/**
 * BullMQ's index loads every backend and client it supports. Two of them ratchet never uses
 * cost every process memory as they load (docs/memory.md, "BullMQ, bundled"):
 *
 * - its Postgres backend (queues stored in Postgres rather than Redis), with its SQL: not
 *   exported from the bundled BullMQ at all. Nothing of ratchet's imports it; a Queue or
 *   Worker built on Redis never reaches it.
 * - cron-parser, and luxon with it, which BullMQ's job schedulers use to read cron patterns:
 *   required on the first pattern it reads instead (it stays outside the bundle, so its
 *   source is read only then). ratchet schedules no repeatable jobs.
 */
const BULLMQ_UNUSED: SourcePatch[] = [
  {
    packageName: 'bullmq',
    file: 'dist/cjs/index.js',
    apply: (source) =>
      replaceOnce(
        source,
        'tslib_1.__exportStar(require("./postgres"), exports);',
        "// The Postgres backend is left out of ratchet's bundles (scripts/source-patches.ts).",
      ),
  },
  {
    packageName: 'bullmq',
    file: 'dist/cjs/classes/job-scheduler.js',
    apply: (source) =>
      replaceOnce(
        source,
        'const cron_parser_1 = require("cron-parser");',
        [
          'const cron_parser_1 = {',
          '  get CronExpressionParser() {',
          '    return require("cron-parser").CronExpressionParser;',
          '  },',
          '};',
        ].join('\n'),
      ),
  },
];

export const SOURCE_PATCHES: readonly SourcePatch[] = [
  lazyDateFormat('console-logger.service.js'),
  lazyDateFormat('logger.service.js'),
  ...WEB_GLOBALS_AT_LOAD,
  ...BULLMQ_UNUSED,
];
