import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Where `npm run build` puts the console (apps/console, built by Vite): `dist/console` in the
 * first folder above `fromDir` that has one, so it is found whether this file runs as source
 * (the tests), compiled (dist/apps/api/src/console/) or bundled (dist/apps/api/main.js).
 * Null when the console is not built.
 */
export function findConsoleDir(fromDir: string = __dirname): string | null {
  for (let dir = path.resolve(fromDir); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'dist', 'console');
    if (existsSync(path.join(candidate, 'index.html'))) return candidate;
    if (path.dirname(dir) === dir) return null;
  }
}
