import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findConsoleDir } from './console-dir';

describe('findConsoleDir', () => {
  let checkout: string;

  beforeEach(() => {
    checkout = mkdtempSync(path.join(tmpdir(), 'ratchet-console-dir-'));
  });

  afterEach(() => rmSync(checkout, { recursive: true, force: true }));

  function buildConsole(): string {
    const dir = path.join(checkout, 'dist', 'console');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
    return dir;
  }

  it.each([
    ['the source', 'apps/api/src/console'],
    ['the compiled module', 'dist/apps/api/src/console'],
    ['the bundle', 'dist/apps/api'],
  ])("finds the checkout's dist/console from %s", (_, from) => {
    const built = buildConsole();
    expect(findConsoleDir(path.join(checkout, from))).toBe(built);
  });

  it('is null when the console is not built', () => {
    mkdirSync(path.join(checkout, 'dist', 'console'), { recursive: true });
    expect(findConsoleDir(path.join(checkout, 'dist', 'apps', 'api'))).toBeNull();
  });
});
