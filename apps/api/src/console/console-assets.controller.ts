import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Controller, Get, Param, Res } from '@nestjs/common';
import { RatchetError } from '@ratchet/core';
import type { Response } from 'express';
import { Public } from '../auth/public.decorator';
import { findConsoleDir } from './console-dir';

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
    const dir = findConsoleDir();
    if (!dir) {
      throw new RatchetError(
        'not_found',
        'The console is not built: run `npm run build`, which builds apps/console into dist/console.',
      );
    }
    response.setHeader('content-type', 'text/html; charset=utf-8');
    response.setHeader('cache-control', 'no-cache');
    response.setHeader('content-security-policy', PAGE_POLICY);
    response.setHeader('x-content-type-options', 'nosniff');
    response.sendFile(path.join(dir, 'index.html'));
  }

  @Get('assets/:file')
  asset(@Param('file') file: string, @Res() response: Response): void {
    const type = TYPES[path.extname(file)];
    const dir = findConsoleDir();
    if (!type || !dir || !this.built(dir).has(file)) {
      throw new RatchetError('not_found', `No file '${file}' in the console.`);
    }
    response.setHeader('content-type', type);
    response.setHeader('x-content-type-options', 'nosniff');
    // Vite names assets by their content hash: a name never changes meaning.
    response.setHeader('cache-control', 'public, max-age=31536000, immutable');
    response.sendFile(path.join(dir, 'assets', file));
  }

  /** The names of the built assets, read once: only those are served. */
  private built(dir: string): Set<string> {
    if (this.assets) return this.assets;
    const assets = path.join(dir, 'assets');
    const names = existsSync(assets) ? readdirSync(assets) : [];
    if (names.length > 0) this.assets = new Set(names);
    return new Set(names);
  }
}
