import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { BUNDLE_OPTIONS } from '../scripts/bundle-options';
import { repoRoot } from './support/processes';

// `npm run build` bundles each app's entry point (scripts/bundle-apps.ts); these check that the
// built entry points are bundles and that they run.

const PRELOAD = path.join(__dirname, 'support', 'resolved-modules.js');
const INTL_PRELOAD = path.join(__dirname, 'support', 'intl-objects.js');

/**
 * Runs a built entry point with no configuration: it loads all its modules, then stops at the
 * configuration check. Returns its stderr and the packages it resolved in node_modules.
 */
function loadEntryPoint(script: string): {
  status: number | null;
  stderr: string;
  packages: string[];
  intl: Record<string, number>;
} {
  const run = spawnSync(
    process.execPath,
    ['--require', PRELOAD, '--require', INTL_PRELOAD, script],
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
  return { status: run.status, stderr: run.stderr, packages: [...new Set(packages)], intl };
}

describe('bundled entry points', () => {
  it.each(['api', 'worker', 'all'])(
    'dist/apps/%s/main.js runs with Nest from its bundle, not from node_modules',
    (app) => {
      const { status, stderr, packages, intl } = loadEntryPoint(`dist/apps/${app}/main.js`);
      expect(stderr).toContain(`ratchet ${app}: configuration error`);
      expect(status).toBe(1);
      expect(packages.filter((name) => name.startsWith('@nestjs/'))).toEqual([]);
      // What stays outside the bundle is still loaded from node_modules.
      expect(packages).toEqual(expect.arrayContaining(['bullmq', 'pg']));
      // Prisma owns the schema, not the queries: its client (and its query compiler's
      // WebAssembly, 16 MB of the API's resident memory) is no process's to load.
      expect(packages.filter((name) => name.startsWith('@prisma/') || name === 'prisma')).toEqual(
        [],
      );
      // No Intl object as modules load (Nest's loggers build theirs on first use): the first
      // would load about 6 MB of ICU data from node's binary into every process.
      expect(intl).toEqual({});
    },
  );

  it("Nest's loggers, bundled as the apps are, still print timestamps, building their formatter once", async () => {
    const bundle = await build({
      stdin: {
        contents: [
          "const { ConsoleLogger, Logger } = require('@nestjs/common');",
          "const logger = new ConsoleLogger('probe', { timestamp: true });",
          "logger.log('first');",
          "logger.log('second');",
          'Logger.overrideLogger(logger);',
          "new Logger('static').log('third');",
        ].join('\n'),
        resolveDir: repoRoot,
      },
      ...BUNDLE_OPTIONS,
      write: false,
      logLevel: 'silent',
    });
    const run = spawnSync(process.execPath, ['--require', INTL_PRELOAD, '-'], {
      cwd: repoRoot,
      input: bundle.outputFiles[0].text,
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

  it.each(['api', 'worker', 'all', 'dev'])(
    'dist/apps/%s/main.js is ASCII, which V8 keeps at one byte a character',
    (app) => {
      const source = readFileSync(path.join(repoRoot, 'dist', 'apps', app, 'main.js'));
      expect(source.findIndex((byte) => byte > 0x7f)).toBe(-1);
    },
  );
});
