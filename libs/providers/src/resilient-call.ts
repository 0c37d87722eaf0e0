import { observeUpstreamCall } from '@ratchet/telemetry';
import { abortError, sleep as abortableSleep } from './abort-signals';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
  UpstreamError,
} from './provider';
import type { ProviderRegistry } from './provider-registry';
import { type RetryPolicy, retryDelay } from './retry-policy';

/** One model a call may go to: the primary first, then its configured fallbacks in order. */
export interface ResolvedTarget {
  /** The configured model name (what the response reports as its `model`). */
  name: string;
  provider: ModelProvider;
  upstreamModel: string;
}

/** One failed attempt, reported for logs and metrics. */
export interface AttemptFailure {
  model: string;
  /** 1-based, counted per model. */
  attempt: number;
  error: UpstreamError;
  /** The wait before retrying this model; null when this model is done with. */
  delayMs: number | null;
}

export interface ResilienceOptions {
  policy: RetryPolicy;
  /** Must reject with the signal's abort reason as soon as it aborts (as the default does). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  onAttempt?: (info: AttemptFailure) => void;
  /**
   * Called when an attempt that had already streamed deltas failed and another attempt will
   * follow, so the listener can close the streamed items `incomplete` before new ones open.
   * Called as soon as that is decided, before any backoff, so a client is not left looking at
   * open items for the whole wait. Not called when the call gives up or is aborted: the
   * caller's failure and cancel paths close open items anyway.
   */
  onAbandon?: () => void;
  /**
   * Shapes the request for one target before each of its attempts (the worker fits the input
   * into that model's context window). An UpstreamError it throws fails the attempt like an
   * upstream's would.
   */
  prepare?: (target: ResolvedTarget, request: ModelCallRequest) => ModelCallRequest;
}

export interface ResilientCallResult {
  result: ModelCallResult;
  /** The target name that answered: the primary, or the fallback that stood in for it. */
  model: string;
}

/**
 * Codes of non-retryable failures that belong to the model rather than to the request, so
 * another model may well succeed where this one cannot: our credentials or quota for it are
 * bad, or its server answers garbage. Anything else that is
 * not retryable — context length, malformed input, other 4xx — is the request's own fault
 * and a fallback would fail the same way, wasting a call and hiding the real error.
 */
const MODEL_LEVEL_CODES: ReadonlySet<string> = new Set([
  'upstream_auth_error',
  'insufficient_quota',
  'upstream_bad_response',
]);

/**
 * Whether a fallback model should be tried after `error` ended a model's attempts. Retryable
 * errors (5xx, 408, 409, 429, timeouts, unreachable) qualify once the retries are spent. A
 * 404 means the upstream does not know this model name; another model may exist.
 */
export function movesToFallback(error: UpstreamError): boolean {
  return error.retryable || MODEL_LEVEL_CODES.has(error.code) || error.status === 404;
}

/**
 * Calls the first target, retrying per `policy`, then each fallback in turn while the failure
 * is one a different model may not have. Resolves with the first success; rejects with the
 * signal's reason once `request.signal` aborts (including mid-backoff), with any non-upstream
 * error at once (a bug, not an upstream failure), or else with the last UpstreamError, its
 * code kept, its message saying how many attempts were made on which models.
 */
export async function callWithResilience(
  targets: readonly ResolvedTarget[],
  request: ModelCallRequest,
  options: ResilienceOptions,
): Promise<ResilientCallResult> {
  if (targets.length === 0) throw new Error('callWithResilience needs at least one target.');
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const { signal } = request;
  const tried: string[] = [];
  let attempts = 0;

  // Both loops only end by returning or throwing: the last target never moves on.
  for (let index = 0; ; index++) {
    const target = targets[index];
    const isLastTarget = index === targets.length - 1;
    tried.push(target.name);
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw abortError(signal);
      attempts++;
      const deltas = request.onDelta ? new DeltaTracker(request.onDelta) : null;
      const outcome = await settle(() =>
        observeUpstreamCall(target.name, attempt, () =>
          target.provider.call({
            ...(options.prepare ? options.prepare(target, request) : request),
            model: target.upstreamModel,
            ...(deltas ? { onDelta: deltas.forward } : {}),
          }),
        ),
      );
      // Closed before anything else happens, so nothing trickles into abandoned items.
      deltas?.close();
      if (outcome.ok) return { result: outcome.value, model: target.name };
      const { error } = outcome;
      // A failure racing the abort is reported as the abort: the caller asked to stop, and
      // must be able to tell "cancelled" from "failed" by the error.
      if (signal?.aborted) throw abortError(signal);
      if (!(error instanceof UpstreamError)) throw error;
      const delayMs = retryDelay(error, attempt, options.policy, random);
      options.onAttempt?.({ model: target.name, attempt, error, delayMs });
      const fallBack = delayMs === null && !isLastTarget && movesToFallback(error);
      if (delayMs === null && !fallBack) throw gaveUp(error, attempts, tried);
      if (deltas?.used) options.onAbandon?.();
      if (delayMs === null) break;
      await sleep(delayMs, signal);
    }
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** The call's outcome as a value; a provider that throws synchronously counts as failing. */
async function settle<T>(run: () => Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Forwards one attempt's deltas and remembers whether any arrived. Once the attempt has
 * settled it drops stragglers, so an item already closed `incomplete` never grows again.
 */
class DeltaTracker {
  used = false;
  private open = true;

  constructor(private readonly listener: (delta: ModelDelta) => void) {}

  readonly forward = (delta: ModelDelta): void => {
    if (!this.open) return;
    this.used = true;
    this.listener(delta);
  };

  close(): void {
    this.open = false;
  }
}

function gaveUp(last: UpstreamError, attempts: number, tried: readonly string[]): UpstreamError {
  const models = tried.map((name) => `'${name}'`).join(', ');
  const summary =
    `${attempts} ${attempts === 1 ? 'attempt' : 'attempts'} on ` +
    `${tried.length === 1 ? 'model' : 'models'} ${models}`;
  return new UpstreamError(`${last.message} (${summary})`, {
    code: last.code,
    status: last.status,
    retryable: last.retryable,
    retryAfterMs: last.retryAfterMs,
    cause: last,
  });
}

/**
 * The targets for a request naming `model`: it, then its configured fallbacks in order.
 * Fallbacks are not followed transitively (a fallback's own fallbacks are ignored), which keeps
 * the chain what the config says for this model and rules out cycles; repeats are dropped.
 */
export function resolveTargets(
  registry: Pick<ProviderRegistry, 'resolve' | 'list'>,
  model: string,
): ResolvedTarget[] {
  const configs = new Map(registry.list().map(({ id, config }) => [id, config]));
  const primary = configs.get(model);
  if (!primary) throw new Error(`Unknown model '${model}'.`);
  const names = [...new Set([model, ...primary.fallbacks])];
  return names.map((name) => {
    const resolved = registry.resolve(name);
    return { name, provider: resolved.provider, upstreamModel: resolved.upstreamModel };
  });
}
