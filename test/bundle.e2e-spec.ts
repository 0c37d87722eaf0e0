import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import {
  SEMI_SPACE_MB,
  STARTUP_V8_FLAGS,
  STEPS_NODE_MEMORY_ARGS,
} from '../libs/config/src/memory-profile';
import { BUNDLE_OPTIONS } from '../scripts/bundle-options';
import { replaceOnce, sourcePatches, type SourcePatch } from '../scripts/source-patch-plugin';
import { serverUrl } from './support/database';
import { repoRoot, startProcess, waitForOutput } from './support/processes';
import { REDIS_URL, startRatchet } from './support/ratchet';
import { waitFor } from './support/wait';

// `npm run build` bundles each app's entry point (scripts/bundle-apps.ts); these check that the
// built entry points are bundles and that they run.

const PRELOAD = path.join(__dirname, 'support', 'resolved-modules.js');
const INTL_PRELOAD = path.join(__dirname, 'support', 'intl-objects.js');
const WEB_GLOBALS_PRELOAD = path.join(__dirname, 'support', 'web-globals.js');

/** Whether a process run with WEB_GLOBALS_PRELOAD loaded node's own undici, from its stderr. */
function loadedNodesUndici(stderr: string): boolean | undefined {
  const line = /^node's undici loaded: (true|false)$/m.exec(stderr)?.[1];
  return line === undefined ? undefined : line === 'true';
}

/** Bundles `lines` as the apps are bundled; returns the bundle's source. */
async function bundleProbe(lines: string[]): Promise<string> {
  const bundle = await build({
    stdin: { contents: lines.join('\n'), resolveDir: repoRoot },
    ...BUNDLE_OPTIONS,
    write: false,
    logLevel: 'silent',
  });
  return bundle.outputFiles[0].text;
}

/**
 * Runs a probe's bundle from a file, as the apps run: node evaluates its standard input as it
 * does `-e`, and there the web globals do not load its undici as they do in a script. The file
 * is outside the checkout, so what stays outside the bundle resolves by NODE_PATH.
 */
function runProbe(source: string, preloads: string[], env: Record<string, string>) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ratchet-bundle-'));
  const script = path.join(dir, 'probe.js');
  writeFileSync(script, source);
  try {
    return spawnSync(
      process.execPath,
      [...preloads.flatMap((preload) => ['--require', preload]), script],
      {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          NODE_PATH: path.join(repoRoot, 'node_modules'),
          ...env,
        },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs a built entry point with no configuration: it loads all its modules, then stops at the
 * configuration check. Returns its stderr and the packages it resolved in node_modules.
 */
function loadEntryPoint(script: string): {
  status: number | null;
  stderr: string;
  packages: string[];
  intl: Record<string, number>;
  undici: boolean | undefined;
} {
  const run = spawnSync(
    process.execPath,
    ['--require', PRELOAD, '--require', INTL_PRELOAD, '--require', WEB_GLOBALS_PRELOAD, script],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  const line = /^resolved modules: (.*)$/m.exec(run.stderr)?.[1] ?? '[]';
  const files = JSON.parse(line) as string[];
  const packages = files.map((file) => {
    const [first, second] = file.split(`node_modules${path.sep}`).at(-1)!.split(path.sep);
    return first.startsWith('@') ? `${first}/${second}` : first;
  });
  const intl = JSON.parse(/^intl objects: (.*)$/m.exec(run.stderr)?.[1] ?? 'null') as Record<
    string,
    number
  >;
  return {
    status: run.status,
    stderr: run.stderr,
    packages: [...new Set(packages)],
    intl,
    undici: loadedNodesUndici(run.stderr),
  };
}

describe('bundled entry points', () => {
  it.each(['api', 'worker', 'all'])(
    'dist/apps/%s/main.js runs with Nest from its bundle, not from node_modules',
    (app) => {
      const { status, stderr, packages, intl, undici } = loadEntryPoint(`dist/apps/${app}/main.js`);
      expect(stderr).toContain(`ratchet ${app}: configuration error`);
      expect(status).toBe(1);
      expect(packages.filter((name) => name.startsWith('@nestjs/'))).toEqual([]);
      // What stays outside the bundle is still loaded from node_modules; pg and BullMQ are
      // bundled, and cron-parser (with luxon), outside it, is not loaded until a cron pattern is.
      expect(packages).toContain('ioredis');
      for (const name of ['pg', 'bullmq', 'cron-parser', 'luxon']) {
        expect(packages).not.toContain(name);
      }
      // Prisma owns the schema, not the queries: its client (and its query compiler's
      // WebAssembly, 16 MB of the API's resident memory) is no process's to load.
      expect(packages.filter((name) => name.startsWith('@prisma/') || name === 'prisma')).toEqual(
        [],
      );
      // No Intl object as modules load (Nest's loggers build theirs on first use): the first
      // would load about 6 MB of ICU data from node's binary into every process.
      expect(intl).toEqual({});
      // Nor node's own undici (the global fetch's), which reading a global `Headers` or
      // `Response` loads: about 3 MB more in every process (scripts/source-patches.ts).
      expect(undici).toBe(false);
      // OpenTelemetry's SDK is neither in the bundle nor loaded: tsc's output of the tracing
      // SDK is required from beside it once an OTLP endpoint is configured
      // (scripts/on-demand-plugin.ts; test/tracing.e2e-spec.ts runs it so). Only its API
      // package is bundled, which prom-client imports.
      expect(packages.filter((name) => name.startsWith('@opentelemetry/'))).toEqual([]);
      const source = readFileSync(path.join(repoRoot, 'dist', 'apps', app, 'main.js'), 'utf8');
      expect(source).not.toMatch(/node_modules\/@opentelemetry\/(?!api\/)/);
      expect(source).toContain('node_modules/@opentelemetry/api/');
      expect(source).toContain('import("../../libs/telemetry/src/tracing-sdk.js")');
      // The API calls no MCP server: its bundle holds the allow list, not the MCP SDK's
      // client, which the worker's keeps (libs/tools/src/tool-resolution.ts).
      if (app === 'api') expect(source).not.toContain('node_modules/@modelcontextprotocol/');
      else expect(source).toContain('node_modules/@modelcontextprotocol/');
    },
  );

  it("pg and undici's cookie helpers, bundled as the apps are, work as before without node's undici", async () => {
    const source = await bundleProbe([
      "const { Client } = require('pg');",
      "const { getCookies, Headers } = require('undici');",
      'void (async () => {',
      '  const client = new Client({ connectionString: process.env.PROBE_DATABASE_URL });',
      '  await client.connect();',
      "  const { rows } = await client.query('SELECT 41 + $1::int AS answer', [1]);",
      '  await client.end();',
      "  const before = process.moduleLoadList.includes('NativeModule internal/deps/undici/undici');",
      "  const ours = getCookies(new Headers({ cookie: 'a=1' }));",
      "  let refused = 'no';",
      '  try { getCookies({}); } catch (error) { refused = error.code; }',
      "  const global = getCookies(new globalThis.Headers({ cookie: 'b=2' }));",
      '  console.log(JSON.stringify({ answer: rows[0].answer, ours, global, refused, before }));',
      '})();',
    ]);
    const run = runProbe(source, [WEB_GLOBALS_PRELOAD], { PROBE_DATABASE_URL: serverUrl() });
    expect(run.stderr).not.toContain('Error');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      answer: 42,
      ours: { a: '1' },
      // The brand check, built on first use, still takes node's own Headers too.
      global: { b: '2' },
      refused: 'ERR_INVALID_THIS',
      // Loading both and connecting and querying loaded no node undici; the helpers' first
      // call, which reads the global Headers for its brand check, did.
      before: false,
    });
    expect(loadedNodesUndici(run.stderr)).toBe(true);
  });

  it('BullMQ, bundled as the apps are, runs jobs through Redis and reads cron patterns on demand', async () => {
    const source = await bundleProbe([
      "const { Queue, Worker, getNextMillis } = require('bullmq');",
      'void (async () => {',
      '  const connection = { url: process.env.PROBE_REDIS_URL, maxRetriesPerRequest: null };',
      '  const prefix = `{bundle-probe-${process.pid}}`;',
      "  const queue = new Queue('probe', { connection, prefix });",
      "  const worker = new Worker('probe', async (job) => job.data.a + 1, { connection, prefix });",
      "  const done = new Promise((resolve) => worker.on('completed', (_job, value) => resolve(value)));",
      "  await queue.add('add', { a: 41 });",
      '  const answer = await done;',
      '  await worker.close();',
      '  await queue.obliterate({ force: true });',
      '  await queue.close();',
      '  const resolved = (name) => Object.keys(require.cache).some((file) => file.includes(`/node_modules/${name}/`));',
      "  const before = resolved('cron-parser');",
      "  const next = getNextMillis(Date.UTC(2026, 0, 1, 0, 0, 1), { pattern: '0 * * * *', tz: 'UTC' });",
      "  console.log(JSON.stringify({ answer, before, after: resolved('cron-parser'), next: new Date(next).toISOString() }));",
      '})();',
    ]);
    const run = runProbe(source, [], { PROBE_REDIS_URL: REDIS_URL });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      answer: 42,
      // Running jobs never loaded cron-parser; the first pattern did, from node_modules.
      before: false,
      after: true,
      next: '2026-01-01T01:00:00.000Z',
    });
  });

  describe('a source patch', () => {
    const bundleWith = (contents: string, patches: SourcePatch[]) =>
      build({
        stdin: { contents, resolveDir: repoRoot },
        ...BUNDLE_OPTIONS,
        plugins: [sourcePatches(patches)],
        write: false,
        logLevel: 'silent',
      });

    it('fails the build when the text it changes is not in its file exactly once', async () => {
      const patch: SourcePatch = {
        packageName: 'pg',
        file: 'lib/stream.js',
        apply: (source) => replaceOnce(source, 'a line no release of pg has', ''),
      };
      await expect(bundleWith("require('pg');", [patch])).rejects.toThrow(
        /pg\/lib\/stream\.js: expected exactly one "a line no release of pg has"/,
      );
    });

    it('fails the build when its package is bundled but its file is not', async () => {
      const patch: SourcePatch = {
        packageName: 'pg',
        file: 'lib/moved-away.js',
        apply: (source) => source,
      };
      await expect(bundleWith("require('pg');", [patch])).rejects.toThrow(
        /not in the bundle, so not patched: pg\/lib\/moved-away\.js/,
      );
      // A bundle without the package needs none of its patches.
      await expect(bundleWith("require('node:os');", [patch])).resolves.toBeDefined();
    });
  });

  it("Nest's loggers, bundled as the apps are, still print timestamps, building their formatter once", async () => {
    const source = await bundleProbe([
      "const { ConsoleLogger, Logger } = require('@nestjs/common');",
      "const logger = new ConsoleLogger('probe', { timestamp: true });",
      "logger.log('first');",
      "logger.log('second');",
      'Logger.overrideLogger(logger);',
      "new Logger('static').log('third');",
    ]);
    const run = spawnSync(process.execPath, ['--require', INTL_PRELOAD, '-'], {
      cwd: repoRoot,
      input: source,
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', TZ: 'UTC', LANG: 'C' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(0);
    const year = new Date().getUTCFullYear();
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    for (const [index, line] of lines.entries()) {
      expect(line).toContain(`${year}`);
      expect(line).toContain(['first', 'second', 'third'][index]);
    }
    expect(lines[0]).toMatch(/\d{1,2}\/\d{1,2}\/\d{4}, \d{1,2}:\d{2}:\d{2}/);
    expect(JSON.parse(/^intl objects: (.*)$/m.exec(run.stderr)![1])).toEqual({ DateTimeFormat: 1 });
  });

  it("tsc's unbundled entry point loads Nest from node_modules (what the check above rules out)", () => {
    const { status, packages } = loadEntryPoint('dist/apps/api/src/main.js');
    expect(status).toBe(1);
    expect(packages).toEqual(expect.arrayContaining(['@nestjs/core', '@nestjs/common']));
  });

  it('the worker leaves Express out of its bundle, and a running worker never loads it; it starts in the interpreter', async () => {
    const source = readFileSync(path.join(repoRoot, 'dist', 'apps', 'worker', 'main.js'), 'utf8');
    expect(source).not.toContain('node_modules/express/');
    expect(source).toContain('node_modules/@nestjs/core/');
    // The API's bundle keeps it: it serves HTTP through it.
    const api = readFileSync(path.join(repoRoot, 'dist', 'apps', 'api', 'main.js'), 'utf8');
    expect(api).toContain('node_modules/express/');

    const ratchet = await startRatchet('bundle-worker', {
      workers: 0,
      configYaml: 'models:\n  mock: { provider: mock }\n',
    });
    const worker = startProcess('dist/apps/worker/main.js', ratchet.env, [], repoRoot, [
      '--require',
      PRELOAD,
      '--trace-opt',
    ]);
    try {
      await waitForOutput(worker, 'processing jobs');
      // Nothing was optimised while it started (memory-profile.ts, STARTUP_V8_FLAGS).
      const startUp = worker.output().split('processing jobs')[0];
      expect(startUp).not.toMatch(/compiling method|completed optimizing/);
      // Twenty responses: enough for V8 to find something hot once the compilers are back.
      const key = await ratchet.newKey();
      const ids = await Promise.all(
        Array.from({ length: 20 }, async (_, index) => {
          const created = await ratchet.request('/v1/responses', {
            key,
            method: 'POST',
            body: JSON.stringify({ model: 'mock', input: `hello ${index}`, background: true }),
          });
          return ((await created.json()) as { id: string }).id;
        }),
      );
      await waitFor('the responses, run by the worker process', async () => {
        for (const id of ids) {
          const read = await ratchet.request(`/v1/responses/${id}`, { key });
          if (((await read.json()) as { status: string }).status !== 'completed') return null;
        }
        return true;
      });
    } finally {
      await worker.stop();
      await ratchet.close();
    }
    // And once it had started, they were back on: running the response optimised some code.
    expect(worker.output().split('processing jobs')[1]).toMatch(/completed optimizing/);
    const line = /^resolved modules: (.*)$/m.exec(worker.output())?.[1];
    const files = JSON.parse(line ?? 'null') as string[];
    expect(files.some((file) => file.includes(`${path.sep}ioredis${path.sep}`))).toBe(true);
    expect(files.filter((file) => /[\\/]@nestjs[\\/]|[\\/]express[\\/]/.test(file))).toEqual([]);
  });

  it("each entry point sets V8's start-up flags as its first statement, and runMain sets them back", () => {
    for (const app of ['api', 'worker', 'all', 'dev']) {
      const source = readFileSync(path.join(repoRoot, 'dist', 'apps', app, 'main.js'), 'utf8');
      expect(
        source.startsWith(`require('node:v8').setFlagsFromString('${STARTUP_V8_FLAGS}');`),
      ).toBe(true);
    }
    // The same flags and the same call back, in a process of their own, with the worker's young
    // generation: while they are set, a hot function is not optimised and objects that survive
    // do not grow the young generation; once resumeAfterStartup has run, both happen.
    const profile = path.join(repoRoot, 'dist', 'libs', 'config', 'src', 'memory-profile.js');
    const probe = `
      const { getHeapSpaceStatistics, setFlagsFromString } = require('node:v8');
      const { STARTUP_V8_FLAGS, resumeAfterStartup } = require(${JSON.stringify(profile)});
      setFlagsFromString(STARTUP_V8_FLAGS);
      const youngMb = () =>
        getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size / 2 ** 20;
      function hot(x) { return (x * 31) ^ (x >>> 3); }
      function survive(kept) {
        for (let i = 0; i < 300000; i++) kept.push({ i, text: 'item ' + i });
        return kept;
      }
      let sum = 0;
      for (let i = 0; i < 3e6; i++) sum += hot(i);
      survive([]);
      console.log('young during start-up ' + youngMb());
      console.log('resumed', sum > 0);
      resumeAfterStartup();
      for (let i = 0; i < 3e6; i++) sum += hot(i);
      survive([]);
      console.log('young after start-up ' + youngMb());
      console.log('done', sum > 0);
    `;
    const run = spawnSync(
      process.execPath,
      [...STEPS_NODE_MEMORY_ARGS, '--trace-opt', '-e', probe],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(run.status).toBe(0);
    const [before, after] = run.stdout.split('resumed true');
    expect(before).not.toMatch(/completed optimizing .*JSFunction hot/);
    expect(after).toMatch(/completed optimizing .*JSFunction hot/);
    // Two halves of 1 MB, V8's first size, then the setting's largest.
    expect(before).toMatch(/^young during start-up 2$/m);
    expect(after).toMatch(new RegExp(`^young after start-up ${2 * SEMI_SPACE_MB.steps}$`, 'm'));
  });

  it.each(['api', 'worker', 'all', 'dev'])(
    'dist/apps/%s/main.js is ASCII, which V8 keeps at one byte a character',
    (app) => {
      const source = readFileSync(path.join(repoRoot, 'dist', 'apps', app, 'main.js'));
      expect(source.findIndex((byte) => byte > 0x7f)).toBe(-1);
    },
  );
});
