import path from 'node:path';
import { build } from 'esbuild';
import { lazyDateFormat } from './lazy-date-format';

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

/** Packages required from node_modules at run time rather than bundled. */
const EXTERNAL = [
  // Read files next to their own modules: BullMQ's Lua scripts, Swagger UI's assets.
  'bullmq',
  'swagger-ui-dist',
  // Required by those packages too: bundled, they would be loaded twice, and pg's errors would
  // fail `instanceof` checks against the other copy.
  'ioredis',
  'pg',
  'pg-native',
  // Loaded lazily by Nest only when an app uses them (none of ratchet's does); outside the
  // bundle their require fails as it does unbundled.
  '@nestjs/microservices',
  '@nestjs/websockets',
  'class-validator',
  'class-transformer',
];

async function bundleApp(app: (typeof APPS)[number]): Promise<void> {
  const outfile = path.join(DIST, 'apps', app, 'main.js');
  await build({
    entryPoints: [path.join(DIST, 'apps', app, 'src', 'main.js')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    plugins: [lazyDateFormat],
    // Nest's ES modules call createRequire(import.meta.url), which CommonJS has no value for.
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    // No keepNames: it wraps function and class expressions in a call that sets their name,
    // which cost a quarter of the fan-out burst's throughput. Without it, classes of bundled
    // packages that share a name get a suffix (Nest's Module class becomes Module2); ratchet's
    // own classes, each in its compiled module's scope, keep theirs, which Nest's tokens and
    // log contexts use.
    // Without comments the source is ASCII, so V8 holds it at one byte a character instead
    // of two; without whitespace it is 6 MB instead of 8. Stack traces map back to the
    // TypeScript sources through the source map (`node --enable-source-maps`).
    minifyWhitespace: true,
    minifySyntax: true,
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
