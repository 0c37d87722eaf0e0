import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Plugin } from 'esbuild';

// An esbuild plugin that bundles a few files of ratchet's dependencies with a small change of
// source (scripts/source-patches.ts says which and why). A patch finds the exact text it
// changes, or fails the build: a release of the package that changed those lines is bundled
// only once someone has looked at it, never silently unchanged.

export interface SourcePatch {
  /** The package, as its folder in node_modules is named (`undici`, `@nestjs/common`). */
  packageName: string;
  /** The file in the package, with `/` between folders. */
  file: string;
  /** The changed source; throws when the text it changes is not there exactly as expected. */
  apply(source: string): string;
}

/**
 * Replaces `from`, which must occur exactly once in `source`, with `to`; throws otherwise.
 */
export function replaceOnce(source: string, from: string, to: string): string {
  const at = source.indexOf(from);
  if (at < 0 || source.includes(from, at + from.length)) {
    throw new Error(`expected exactly one ${JSON.stringify(from)}`);
  }
  return source.slice(0, at) + to + source.slice(at + from.length);
}

/** The path of a package's folder in node_modules, or of a file in it, as esbuild gives it. */
function inNodeModules(packageName: string, file?: string): string {
  const parts = ['node_modules', ...packageName.split('/'), ...(file?.split('/') ?? [])];
  return parts.join(path.sep);
}

/**
 * The plugin. A patch is required of every bundle that holds any file of its package (the
 * test probes bundle only a part of ratchet's dependencies); there, its file must have been
 * bundled and patched, or the build fails, so a file that a release moved is noticed too.
 */
export function sourcePatches(patches: readonly SourcePatch[]): Plugin {
  const packages = [...new Set(patches.map((patch) => patch.packageName))];
  const escaped = packages.map((name) =>
    name
      .split('/')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('[\\\\/]'),
  );
  const filter = new RegExp(`[\\\\/]node_modules[\\\\/](${escaped.join('|')})[\\\\/]`);
  return {
    name: 'source-patches',
    setup(build) {
      const bundled = new Set<string>();
      const patched = new Set<SourcePatch>();
      build.onStart(() => {
        bundled.clear();
        patched.clear();
      });
      build.onLoad({ filter }, async (args) => {
        const packageName = packages.find((name) =>
          args.path.includes(`${path.sep}${inNodeModules(name)}${path.sep}`),
        );
        if (packageName !== undefined) bundled.add(packageName);
        const patch = patches.find((candidate) =>
          args.path.endsWith(`${path.sep}${inNodeModules(candidate.packageName, candidate.file)}`),
        );
        if (patch === undefined) return undefined;
        const source = await readFile(args.path, 'utf8');
        let contents: string;
        try {
          contents = patch.apply(source);
        } catch (error) {
          throw new Error(`${patch.packageName}/${patch.file}: ${(error as Error).message}`, {
            cause: error,
          });
        }
        patched.add(patch);
        return { contents, loader: 'js' };
      });
      build.onEnd((result) => {
        if (result.errors.length > 0) return undefined;
        const missing = patches.filter(
          (patch) => bundled.has(patch.packageName) && !patched.has(patch),
        );
        if (missing.length === 0) return undefined;
        const files = missing.map((patch) => `${patch.packageName}/${patch.file}`);
        return { errors: [{ text: `not in the bundle, so not patched: ${files.join(', ')}` }] };
      });
    },
  };
}
