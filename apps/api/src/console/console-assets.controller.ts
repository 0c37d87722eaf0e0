import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Controller, Get, Param, Res } from '@nestjs/common';
import { RatchetError } from '@ratchet/core';
import type { Response } from 'express';
import { Public } from '../auth/public.decorator';

/** The checkout from this file as source, or its dist/ from this file compiled. */
const ROOT = path.resolve(__dirname, '../../../..');

/**
 * Where `npm run build` puts the console (apps/console, built by Vite): `dist/console` of the
 * checkout, whether this file runs compiled (`npm start`) or as source (the tests).
 */
function consoleDir(): string {
  const compiled = path.join(ROOT, 'console');
  return existsSync(path.join(compiled, 'index.html'))
    ? compiled
    : path.join(ROOT, 'dist', 'console');
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page itself loads only its own script and style; data calls go to this origin. */
const PAGE_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The web console: a static page and its assets, public like any page (every data call it
 * makes needs a key, which the page asks for).
 */
@Public()
@Controller('console')
export class ConsoleAssetsController {
  private assets: Set<string> | null = null;

  @Get()
  page(@Res() response: Response): void {
    const file = path.join(consoleDir(), 'index.html');
    if (!existsSync(file)) {
      throw new RatchetError(
        'not_found',
        'The console is not built: run `npm run build`, which builds apps/console into dist/console.',
      );
    }
    response.setHeader('content-type', 'text/html; charset=utf-8');
    response.setHeader('cache-control', 'no-cache');
    response.setHeader('content-security-policy', PAGE_POLICY);
    response.setHeader('x-content-type-options', 'nosniff');
    response.sendFile(file);
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() response: Response): void {
    const type = TYPES[path.extname(file)];
    if (!type || !this.built().has(file)) {
      throw new RatchetError('not_found', `No file '${file}' in the console.`);
    }
    response.setHeader('content-type', type);
    response.setHeader('x-content-type-options', 'nosniff');
    // Vite names assets by their content hash: a name never changes meaning.
    response.setHeader('cache-control', 'public, max-age=31536000, immutable');
    response.sendFile(path.join(consoleDir(), 'assets', file));
  }

  /** The names of the built assets, read once: only those are served. */
  private built(): Set<string> {
    if (this.assets) return this.assets;
    const dir = path.join(consoleDir(), 'assets');
    const names = existsSync(dir) ? readdirSync(dir) : [];
    if (names.length > 0) this.assets = new Set(names);
    return new Set(names);
  }
}
