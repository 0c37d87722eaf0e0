import { useEffect, useRef, useState } from 'preact/hooks';
import { readEvents, sleep, type SseMessage } from './api';
import { freshestReads } from './freshest';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

/**
 * Keeps a server-sent event stream open while the component lives: reconnects after a
 * break, waiting longer each time (up to 10 s), and calls `onMessage` for each message.
 */
export function useEventStream(
  key: string,
  path: string | null,
  onMessage: (message: SseMessage) => void,
): LiveState {
  const [state, setState] = useState<LiveState>('connecting');
  const handler = useRef(onMessage);
  handler.current = onMessage;
  useEffect(() => {
    if (!path) return;
    const controller = new AbortController();
    void (async () => {
      let wait = 500;
      while (!controller.signal.aborted) {
        try {
          await readEvents(key, path, controller.signal, (message) => {
            wait = 500;
            setState('live');
            handler.current(message);
          });
        } catch {
          // Broken off or refused: try again below.
        }
        if (controller.signal.aborted) return;
        setState('reconnecting');
        await sleep(wait, controller.signal);
        wait = Math.min(wait * 2, 10_000);
      }
    })();
    return () => controller.abort();
  }, [key, path]);
  return state;
}

/** Calls `run` at most once per `ms`, the last call of a burst included. */
export function useThrottle(run: () => void, ms: number): () => void {
  const last = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef(run);
  latest.current = run;
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return () => {
    if (timer.current) return;
    const due = Math.max(0, last.current + ms - Date.now());
    timer.current = setTimeout(() => {
      timer.current = null;
      last.current = Date.now();
      latest.current();
    }, due);
  };
}

/** The current time, ticking every `ms` while `active`. */
export function useNow(ms: number, active = true): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
  return now;
}

/**
 * A view's reads, newest answer wins (freshestReads): returns what starts a read. `apply` and
 * `fail` are the latest render's.
 */
export function useFreshest<T>(
  apply: (value: T) => void,
  fail: (error: unknown) => void,
): (read: Promise<T>) => void {
  const latest = useRef({ apply, fail });
  latest.current = { apply, fail };
  const reads = useRef<((read: Promise<T>) => void) | null>(null);
  reads.current ??= freshestReads<T>(
    (value) => latest.current.apply(value),
    (error) => latest.current.fail(error),
  );
  return reads.current;
}
