import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// How ratchet's processes keep their resident memory small (docs/memory.md has the figures),
// and their CPU on what every step waits for.
//
// Three of the settings must be in place before Node starts, so the npm scripts, the
// Dockerfile, docker-compose.yml and the bench all pass them: a small young generation (V8
// grows it to 16 MB a half by default, and start-up alone grows it to 32 MB), one V8 helper
// thread, and malloc's settings. The others are made here, at run time, as each process starts.

/**
 * The processes that run steps (the worker, and `all` and `dev`, which hold one) allocate
 * about 80 KB per step they run, and under load most of it is still in flight when the young
 * generation fills. Its half size trades scavenges against resident memory: at 2 MB a burst of
 * 2,000 fan-out responses made 620 scavenges per 12,000 steps (1.4 s of the worker's time), at
 * 4 MB 287 (0.65 s), at 8 MB 140 (0.48 s), for 6 and then about 14 MB more at the burst's peak
 * (docs/memory.md). Start-up does not grow it (STARTUP_V8_FLAGS), so an idle process does not
 * pay for it. The API allocates less per request, and its peak is the nearer to the 150 MB
 * target (135 MB in that burst, with all 2,000 requests arriving at once), so it keeps 2 MB.
 */
export const SEMI_SPACE_MB = { api: 2, steps: 8 } as const;

/**
 * One V8 helper thread rather than Node's default four. They run the collector's parallel and
 * concurrent work and compile optimised code. A ratchet process's heap is small, and every
 * step waits on its main thread: four helpers over-subscribe the cores that the main thread,
 * the other ratchet processes and Postgres share. In bursts of 2,000 fan-out responses on two
 * cores, with the API and the worker run so, the machine sat idle 16 to 18% of ratchet's rounds
 * rather than 18 to 20%, and the throughput was 0.69x to 0.72x the floor's rather than 0.62x to
 * 0.67x, four reduced `npm run bench` runs of each, alternating (docs/cpu.md, "What the burst
 * waits on"). One helper, not none: with the collector on the main thread alone
 * (`--single-threaded-gc`) the worker spent less CPU, but the machine sat idler still.
 */
const V8_POOL_ARGS: readonly string[] = ['--v8-pool-size=1'];

/** Node arguments for the API process. */
export const NODE_MEMORY_ARGS: readonly string[] = [
  `--max-semi-space-size=${SEMI_SPACE_MB.api}`,
  ...V8_POOL_ARGS,
];

/** Node arguments for the processes that run steps: the worker, `all` and `dev`. */
export const STEPS_NODE_MEMORY_ARGS: readonly string[] = [
  `--max-semi-space-size=${SEMI_SPACE_MB.steps}`,
  ...V8_POOL_ARGS,
];

/**
 * Environment for every ratchet process; glibc's malloc reads it at start-up.
 *
 * - Two malloc arenas rather than one per thread (each thread of libuv's pool would otherwise
 *   reserve its own).
 * - Memory freed at the top of the heap goes back to the system once 128 KB of it is free.
 *   By default glibc raises that threshold as large blocks are freed (up to 64 MB), and it
 *   rises as each process starts: V8 frees the scratch memory it compiled start-up's code in
 *   (about 8 MB at its peak), and malloc kept 3 to 4 MB of it, idle (docs/memory.md, "malloc's
 *   trim threshold").
 * - Blocks of 80 KB and more are mapped on their own rather than taken from the heap, and go
 *   back to the system when freed. At the default (128 KB), blocks start-up freed left holes
 *   in the heap that stayed resident: about 3 MB of the idle API's (docs/memory.md, "malloc's
 *   mmap threshold"). Above 64 KB, so that a socket's read buffer still comes from the heap.
 */
export const MEMORY_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_TRIM_THRESHOLD_: '131072',
  MALLOC_MMAP_THRESHOLD_: '81920',
};

/**
 * Compiles WebAssembly with V8's baseline compiler only. The one module ratchet runs now is
 * undici's HTTP parser, small; the flag was for Prisma's 3.4 MB query compiler, which the
 * optimising tier added about 35 MB of machine code for, and which no process loads any more
 * (its queries go through node-postgres). Must run before the first module is compiled.
 */
export function useBaselineWasm(): void {
  setFlagsFromString('--liftoff-only');
}

/**
 * V8's compilers above its interpreter, off while a process starts. Start-up runs most of its
 * code once (module bodies, Nest's scan of its modules), yet V8 optimises what loops there: its
 * optimising compiler ran 18 times in the API's start-up, which brings about 3.6 MB of node's
 * binary (the compiler's own code) into the process's resident memory, and the baseline
 * compiler's code for start-up's functions is 1.5 MB more (docs/memory.md, "Start-up in the
 * interpreter").
 */
const STARTUP_COMPILER_FLAGS = '--no-opt --no-sparkplug';

/**
 * The young generation held at its first size (1 MB a half) while a process starts. V8 doubles
 * it, up to the `--max-semi-space-size` above, whenever more than its size has survived
 * scavenges since it last grew; start-up keeps nearly all it allocates (every module it loads),
 * so it grew the young generation to its largest before the process had served anything, and
 * an idle process kept those pages resident until V8's memory reducer ran, 8 to 20 s later
 * (docs/memory.md, "The young generation at start-up"). Held so, it grows under load instead.
 */
const STARTUP_YOUNG_GENERATION_FLAGS = '--semi-space-growth-factor=1';

/**
 * V8 flags that a bundled entry point sets as its first statement (scripts/bundle-apps.ts),
 * before it loads any module: the two above. `resumeAfterStartup` sets them back once the
 * process has started, so what runs under load is compiled, and collected, as before.
 */
export const STARTUP_V8_FLAGS = `${STARTUP_COMPILER_FLAGS} ${STARTUP_YOUNG_GENERATION_FLAGS}`;

/** Undoes STARTUP_V8_FLAGS: V8's compilers back on, and its young generation free to grow. */
export function resumeAfterStartup(): void {
  setFlagsFromString('--opt --sparkplug --semi-space-growth-factor=2');
}

/**
 * How far V8 lets the old generation grow over what its last full collection left alive
 * before it collects again, in percent: the growth factor V8 itself uses when it saves memory.
 * Left to itself on a machine with gigabytes to spare, V8 lets it grow up to 4x; under a burst
 * of foreground requests that growth is garbage (objects that outlived the small young
 * generation's two scavenges), and it was most of each process's peak (docs/memory.md).
 */
export const HEAP_GROWING_PERCENT = 30;

/**
 * Applies HEAP_GROWING_PERCENT. V8 reads it whenever it sets the next collection's limit, so
 * it can be set at run time; Node refuses it in NODE_OPTIONS, which is why it is not among
 * NODE_MEMORY_ARGS. A growth factor, not a cap: a process that needs more memory still gets it.
 */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/**
 * Runs one full collection, once a process has started, and compacts the old generation in
 * it. V8 sets the old generation's next limit only when it collects it, and a process may
 * start, and then serve a whole burst, before its first full collection, under the generous
 * limit V8 starts with (the burst's peak in docs/memory.md). Collected now, start-up's garbage
 * goes, and the next limit is HEAP_GROWING_PERCENT over what start-up really keeps.
 *
 * Start-up leaves the old generation's pages part-filled: what it loaded and keeps sits among
 * what it allocated and dropped. A full collection compacts only the pages V8's heuristics
 * pick; this one moves every page's survivors together and gives the emptied pages back, about
 * 4 MB of each process's resident memory, which otherwise stays until V8's memory reducer
 * collects once the process has idled for 8 to 20 s (docs/memory.md, "Compacted at start-up").
 * Only this collection compacts so: the flag is off again before it returns. `gc` is exposed
 * to a new context only, not to ratchet's own globals.
 */
export function collectStartupGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
