import path from 'node:path';
import type { Plugin } from 'esbuild';

// An esbuild plugin that leaves out of a bundle the modules of ratchet that an app loads only
// on demand, with everything they alone import: the bundle requires tsc's output of them
// (dist/libs/...) at run time, from the bundle's own folder. A bundle's source is held in
// memory whole for as long as the process runs, whether its modules run or not, so a module
// that most processes never load costs them its size, and that of its dependencies.

/**
 * The modules left out, as tsc's output names them (`dist/<lib>/src/<file>.js`). The tracing
 * SDK (libs/telemetry/src/tracing-sdk.ts) is loaded only when an OTLP endpoint is configured;
 * it alone imports OpenTelemetry's SDK and exporter, about 0.6 MB of bundled source.
 */
const ON_DEMAND = [path.join('libs', 'telemetry', 'src', 'tracing-sdk.js')];

export function onDemand(): Plugin {
  return {
    name: 'ratchet-on-demand',
    setup(build) {
      // A bundle with no file of its own (the tests' probes, built in memory) keeps them in.
      const outfile = build.initialOptions.outfile;
      if (!outfile) return;
      const outdir = path.dirname(path.resolve(outfile));
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = path.resolve(args.resolveDir, args.path);
        if (!ON_DEMAND.some((module) => target.endsWith(path.sep + module))) return undefined;
        const relative = path.relative(outdir, target).split(path.sep).join('/');
        return { path: relative.startsWith('.') ? relative : `./${relative}`, external: true };
      });
    },
  };
}
