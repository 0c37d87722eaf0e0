import type { BuildOptions } from 'esbuild';
import { onDemand } from './on-demand-plugin';
import { sourcePatches } from './source-patch-plugin';
import { SOURCE_PATCHES } from './source-patches';

// How every bundle of ratchet's code is built: the apps' entry points (bundle-apps.ts), and
// the tests that bundle a probe the same way (test/bundle.e2e-spec.ts).

/** Packages required from node_modules at run time rather than bundled. */
const EXTERNAL = [
  // Reads files next to its own modules: Swagger UI's assets.
  'swagger-ui-dist',
  // Required by BullMQ's job schedulers on the first cron pattern they read, never in
  // ratchet (scripts/source-patches.ts): outside the bundle, its source and luxon's are
  // read only then.
  'cron-parser',
  // Loaded by BullMQ too, which is bundled: one copy for both, as BullMQ's check that a
  // connection is an ioredis client needs.
  'ioredis',
  // Loaded by pg only on demand: its native bindings, and its sockets in a Cloudflare Worker.
  'pg-native',
  'pg-cloudflare',
  // Loaded lazily by Nest only when an app uses them (none of ratchet's does); outside the
  // bundle their require fails as it does unbundled.
  '@nestjs/microservices',
  '@nestjs/websockets',
  'class-validator',
  'class-transformer',
];

export const BUNDLE_OPTIONS: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: EXTERNAL,
  plugins: [sourcePatches(SOURCE_PATCHES), onDemand()],
  // Nest's ES modules call createRequire(import.meta.url), which CommonJS has no value for.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  // No keepNames: it wraps function and class expressions in a call that sets their name,
  // which cost a quarter of the fan-out burst's throughput. Without it, classes of bundled
  // packages that share a name get a suffix (Nest's Module class becomes Module2); ratchet's
  // own classes, each in its compiled module's scope, keep theirs, which Nest's tokens and
  // log contexts use.
  // Without comments the source is ASCII, so V8 holds it at one byte a character instead
  // of two; without whitespace it is 6 MB instead of 8.
  minifyWhitespace: true,
  minifySyntax: true,
};
