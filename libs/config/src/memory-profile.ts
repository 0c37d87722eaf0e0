import { setFlagsFromString } from 'node:v8';

// How ratchet's processes keep their resident memory small (docs/memory.md has the figures).
//
// Two of the settings must be in place before Node starts, so the npm scripts, the Dockerfile
// and the bench all pass them: a small young generation (V8 grows it to 16 MB a half by
// default, and start-up alone grows it to 32 MB) and two malloc arenas instead of one per
// thread. The third is made here, at run time, before any WebAssembly is compiled.

/** Node arguments for every ratchet process. */
export const NODE_MEMORY_ARGS: readonly string[] = ['--max-semi-space-size=2'];

/** Environment for every ratchet process (glibc's malloc reads it at start-up). */
export const MEMORY_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/**
 * Compiles WebAssembly with V8's baseline compiler only. Prisma's query compiler is 3.4 MB of
 * WebAssembly that the optimising tier would add about 35 MB of machine code for, on queries
 * that ratchet mostly sends as raw SQL; undici's HTTP parser is the other module, and a small
 * one. Must run before the first module is compiled (before Prisma connects).
 */
export function useBaselineWasm(): void {
  setFlagsFromString('--liftoff-only');
}
