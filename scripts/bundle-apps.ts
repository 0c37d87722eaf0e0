import path from 'node:path';
import { build } from 'esbuild';
import { STARTUP_V8_FLAGS } from '../libs/config/src/memory-profile';
import { BUNDLE_OPTIONS } from './bundle-options';

// `npm run build`, after tsc: bundles each app's compiled entry point into one CommonJS file,
// dist/apps/<app>/main.js, which is what the npm scripts, the image and the tests run. Node 20
// loads Nest 12's ES modules one by one through require(esm); one bundled file starts with a
// third less CPU (docs/memory.md, "Bundled entry points").
//
// The input is tsc's output, not the TypeScript sources: it already carries the decorator
// metadata (`design:paramtypes`) that Nest's injection reads and esbuild does not emit. The
// bundle is written beside, not over, tsc's main.js: an incremental tsc run re-emits only
// what changed, so a bundle written over its own input would be bundled again, stale.

/** The checkout, from dist/scripts/ once compiled. */
const ROOT = path.resolve(__dirname, '..', '..');
const DIST = path.join(ROOT, 'dist');

/** The apps with a process entry point (apps/<app>/src/main.ts). */
const APPS = ['api', 'worker', 'all', 'dev'] as const;

/**
 * Packages an app never loads though its modules name them, left out of its bundle. The
 * worker has no HTTP server: Nest's core names the Express adapter (its REPL builds an
 * application), and with it Express, multer and body-parser's charset tables, 1.1 MB of
 * source the worker would hold unrun. Left out, a require of it would still load it from
 * node_modules; test/bundle.e2e-spec.ts checks that a running worker never does.
 */
const NEVER_LOADED: Partial<Record<(typeof APPS)[number], string[]>> = {
  worker: ['@nestjs/platform-express'],
};

async function bundleApp(app: (typeof APPS)[number]): Promise<void> {
  const outfile = path.join(DIST, 'apps', app, 'main.js');
  await build({
    entryPoints: [path.join(DIST, 'apps', app, 'src', 'main.js')],
    outfile,
    ...BUNDLE_OPTIONS,
    external: [...(BUNDLE_OPTIONS.external ?? []), ...(NEVER_LOADED[app] ?? [])],
    // Start-up runs in V8's interpreter only, with the young generation at its first size,
    // until runMain sets both back (memory-profile.ts, STARTUP_V8_FLAGS).
    banner: {
      js: `require('node:v8').setFlagsFromString('${STARTUP_V8_FLAGS}');${BUNDLE_OPTIONS.banner?.js ?? ''}`,
    },
    // Stack traces map back to the TypeScript sources through the source map
    // (`node --enable-source-maps`).
    legalComments: 'linked',
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  });
}

Promise.all(APPS.map(bundleApp)).catch((error: unknown) => {
  // esbuild has printed the errors already.
  process.stderr.write(`bundle-apps: ${(error as Error).message.split('\n')[0]}\n`);
  process.exitCode = 1;
});
