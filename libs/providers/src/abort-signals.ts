// Cancellation helpers shared by the providers. A caller's abort must surface as the caller's
// own abort reason (not an UpstreamError), so the runtime can tell "cancelled" from "failed".

/** Node fires longer timers after 1 ms (with a warning), so delays are kept within this. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The error to reject with when `signal` aborted: its reason, or a DOMException AbortError. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  // DOMException is not an Error subclass in every realm (jest's sandbox, for one).
  if (reason instanceof Error || reason instanceof DOMException) return reason;
  return new DOMException('The operation was aborted.', 'AbortError');
}

/** Resolves after `ms`, or rejects with `abortError(signal)` as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms > MAX_TIMER_MS) return Promise.reject(new RangeError(`Cannot sleep ${ms} ms.`));
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (event: Event): void => {
      clearTimeout(timer);
      reject(abortError(event.target as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One upstream call's cancellation: aborts when the caller's signal aborts or when
 * `timeoutMs` passes, and remembers which of the two happened.
 */
export interface Deadline {
  readonly signal: AbortSignal;
  timedOut(): boolean;
  /** Stops the timer and unhooks from the caller's signal; call once the call is settled. */
  dispose(): void;
}

export function startDeadline(timeoutMs: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const onParentAbort = (): void => controller.abort(parent?.reason);
  const timer = setTimeout(
    () => {
      expired = true;
      controller.abort(new DOMException(`Timed out after ${timeoutMs} ms.`, 'TimeoutError'));
    },
    Math.min(timeoutMs, MAX_TIMER_MS),
  );
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => expired,
    dispose: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}
