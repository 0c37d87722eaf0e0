import { parseRatchetConfig } from '@ratchet/config';
import {
  type ModelCallRequest,
  type ModelCallResult,
  type ModelDelta,
  type ModelProvider,
  UpstreamError,
} from './provider';
import type { ProviderRegistry, ResolvedModel } from './provider-registry';
import {
  type AttemptFailure,
  callWithResilience,
  movesToFallback,
  type ResilienceOptions,
  type ResolvedTarget,
  resolveTargets,
} from './resilient-call';
import type { RetryPolicy } from './retry-policy';
import { upstreamErrorForStatus } from './upstream-errors';
import { modelRequest as plainRequest } from './testing/fixtures';

const POLICY: RetryPolicy = {
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
  rateLimitFloorMs: 2_000,
};

/** What one scripted attempt does: stream some deltas, then answer or fail. */
interface Step {
  deltas?: ModelDelta[];
  fail?: UpstreamError | Error;
  answer?: string;
}

/** A provider that plays its steps in order and records what it was asked. */
class ScriptedProvider implements ModelProvider {
  readonly requests: ModelCallRequest[] = [];

  constructor(private readonly steps: Step[]) {}

  async call(request: ModelCallRequest): Promise<ModelCallResult> {
    this.requests.push(request);
    const step = this.steps.shift();
    if (!step) throw new Error(`ScriptedProvider for '${request.model}' ran out of steps.`);
    for (const delta of step.deltas ?? []) request.onDelta?.(delta);
    if (step.fail) throw step.fail;
    return result(step.answer ?? 'ok');
  }
}

function result(text: string): ModelCallResult {
  return {
    output: [
      {
        type: 'message',
        id: 'msg_1',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text, annotations: [] }],
      },
    ],
    usage: {
      input_tokens: 1,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 1,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 2,
    },
    finishReason: 'stop',
  };
}

function target(name: string, steps: Step[]): ResolvedTarget & { provider: ScriptedProvider } {
  return { name, provider: new ScriptedProvider(steps), upstreamModel: `${name}-upstream` };
}

function modelRequest(overrides: Partial<ModelCallRequest> = {}): ModelCallRequest {
  return plainRequest({ model: 'ignored', input: [], ...overrides });
}

const status = (code: number, retryAfterMs: number | null = null): UpstreamError =>
  upstreamErrorForStatus(code, `HTTP ${code}.`, { retryAfterMs });

const TEXT: ModelDelta = { type: 'text', itemId: 'msg_1', delta: 'Hel' };

/** Options with a sleep that only records, and a fixed random draw. */
function harness(overrides: Partial<ResilienceOptions> = {}): {
  options: ResilienceOptions;
  delays: number[];
  attempts: AttemptFailure[];
  abandons: number[];
} {
  const delays: number[] = [];
  const attempts: AttemptFailure[] = [];
  const abandons: number[] = [];
  const options: ResilienceOptions = {
    policy: POLICY,
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
    onAttempt: (info) => attempts.push(info),
    onAbandon: () => abandons.push(attempts.length),
    ...overrides,
  };
  return { options, delays, attempts, abandons };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('callWithResilience', () => {
  it('retries a 500 and returns the answer of the attempt that succeeded', async () => {
    const primary = target('gpt', [{ fail: status(500) }, { answer: 'second time lucky' }]);
    const { options, delays, attempts } = harness();

    const { result, model } = await callWithResilience([primary], modelRequest(), options);

    expect(model).toBe('gpt');
    expect(result.output[0]).toMatchObject({ content: [{ text: 'second time lucky' }] });
    expect(delays).toEqual([50]);
    expect(attempts).toEqual([
      { model: 'gpt', attempt: 1, error: expect.any(UpstreamError) as unknown, delayMs: 50 },
    ]);
    expect(primary.provider.requests.map((r) => r.model)).toEqual(['gpt-upstream', 'gpt-upstream']);
  });

  it('waits as long as a 429 Retry-After asks', async () => {
    const primary = target('gpt', [{ fail: status(429, 7_000) }, {}]);
    const { options, delays } = harness();

    await callWithResilience([primary], modelRequest(), options);

    expect(delays).toEqual([7_000]);
  });

  it('waits at least the rate-limit floor after a 429', async () => {
    const primary = target('gpt', [{ fail: status(429, 10) }, { fail: status(429) }, {}]);
    const { options, delays } = harness();

    await callWithResilience([primary], modelRequest(), options);

    // 10 ms asked -> floor; no Retry-After -> floor plus half the 200 ms ceiling.
    expect(delays).toEqual([2_000, 2_100]);
  });

  it('neither retries nor falls back on a 400', async () => {
    const primary = target('gpt', [{ fail: status(400) }]);
    const fallback = target('local', [{}]);
    const { options, delays } = harness();

    const error = await rejection(callWithResilience([primary, fallback], modelRequest(), options));

    expect(error).toMatchObject({ code: 'upstream_error', status: 400 });
    expect(delays).toEqual([]);
    expect(fallback.provider.requests).toHaveLength(0);
  });

  it('surfaces a context length error at once with its own code', async () => {
    const tooLong = upstreamErrorForStatus(400, 'Prompt is too long.', {
      upstreamCode: 'context_length_exceeded',
    });
    const primary = target('gpt', [{ fail: tooLong }]);
    const fallback = target('local', [{}]);
    const { options, delays } = harness();

    const error = await rejection(callWithResilience([primary, fallback], modelRequest(), options));

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'context_length_exceeded', retryable: false });
    expect((error as Error).message).toMatch(/^Prompt is too long\. \(1 attempt on model 'gpt'\)$/);
    expect(delays).toEqual([]);
    expect(fallback.provider.requests).toHaveLength(0);
  });

  it('shapes the request for each target with prepare before its attempts', async () => {
    const primary = target('gpt', [{ fail: status(500) }]);
    const fallback = target('local', [{ answer: 'fitted' }]);
    const seen: string[] = [];
    const { options } = harness({
      policy: { ...POLICY, maxAttempts: 1 },
      prepare: (to, request) => {
        seen.push(to.name);
        return { ...request, instructions: `for ${to.name}` };
      },
    });

    await callWithResilience([primary, fallback], modelRequest(), options);

    expect(seen).toEqual(['gpt', 'local']);
    expect(primary.provider.requests[0]).toMatchObject({
      instructions: 'for gpt',
      model: 'gpt-upstream',
    });
    expect(fallback.provider.requests[0]).toMatchObject({ instructions: 'for local' });
  });

  it('fails the target whose prepare throws, as an upstream failure of that code', async () => {
    const primary = target('gpt', [{}]);
    const tooLong = new UpstreamError('Does not fit.', {
      code: 'context_length_exceeded',
      retryable: false,
    });
    const { options } = harness({
      prepare: () => {
        throw tooLong;
      },
    });

    const error = await rejection(callWithResilience([primary], modelRequest(), options));

    expect(error).toMatchObject({ code: 'context_length_exceeded' });
    expect(primary.provider.requests).toHaveLength(0);
  });

  it('moves to the fallback once the primary has used its attempts', async () => {
    const primary = target('gpt', [
      { fail: status(503) },
      { fail: status(502) },
      { fail: status(500) },
    ]);
    const fallback = target('local', [{ answer: 'from the fallback' }]);
    const { options, delays, attempts } = harness();

    const { result, model } = await callWithResilience(
      [primary, fallback],
      modelRequest(),
      options,
    );

    expect(model).toBe('local');
    expect(result.output[0]).toMatchObject({ content: [{ text: 'from the fallback' }] });
    expect(primary.provider.requests).toHaveLength(3);
    expect(fallback.provider.requests.map((r) => r.model)).toEqual(['local-upstream']);
    // Backoff between the primary's attempts only: moving on to a fallback does not wait.
    expect(delays).toEqual([50, 100]);
    expect(attempts.map((a) => [a.model, a.attempt, a.delayMs])).toEqual([
      ['gpt', 1, 50],
      ['gpt', 2, 100],
      ['gpt', 3, null],
    ]);
  });

  it('walks a chain of two fallbacks, each with its own attempts', async () => {
    const primary = target('gpt', [
      { fail: status(500) },
      { fail: status(500) },
      { fail: status(500) },
    ]);
    const first = target('mini', [
      { fail: status(503) },
      { fail: status(503) },
      { fail: status(503) },
    ]);
    const second = target('local', [{ fail: status(504) }, { answer: 'last resort' }]);
    const { options } = harness();

    const { model } = await callWithResilience([primary, first, second], modelRequest(), options);

    expect(model).toBe('local');
    expect([primary, first, second].map((t) => t.provider.requests.length)).toEqual([3, 3, 2]);
  });

  it('falls back at once on a model-level failure that retrying cannot fix', async () => {
    const primary = target('gpt', [{ fail: status(401) }]);
    const fallback = target('local', [{}]);
    const { options, delays } = harness();

    const { model } = await callWithResilience([primary, fallback], modelRequest(), options);

    expect(model).toBe('local');
    expect(primary.provider.requests).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('rejects with the last model’s last error, saying how many attempts on which models', async () => {
    const primary = target('gpt', [
      { fail: status(500) },
      { fail: status(500) },
      { fail: status(500) },
    ]);
    const fallback = target('local', [
      { fail: status(503) },
      { fail: status(503) },
      { fail: status(429) },
    ]);
    const { options } = harness();

    const error = await rejection(callWithResilience([primary, fallback], modelRequest(), options));

    expect(error).toBeInstanceOf(UpstreamError);
    expect(error).toMatchObject({ code: 'rate_limit_exceeded', status: 429, retryable: true });
    expect((error as Error).message).toBe("HTTP 429. (6 attempts on models 'gpt', 'local')");
    expect((error as Error).cause).toBeInstanceOf(UpstreamError);
  });

  it('stops at the model whose error a fallback would repeat, naming only the models tried', async () => {
    const primary = target('gpt', [
      { fail: status(500) },
      { fail: status(500) },
      { fail: status(500) },
    ]);
    const first = target('mini', [{ fail: status(422) }]);
    const second = target('local', [{}]);
    const { options } = harness();

    const error = await rejection(
      callWithResilience([primary, first, second], modelRequest(), options),
    );

    expect(error).toMatchObject({ code: 'upstream_error', status: 422 });
    expect((error as Error).message).toBe("HTTP 422. (4 attempts on models 'gpt', 'mini')");
    expect(second.provider.requests).toHaveLength(0);
  });

  it('passes errors that are not upstream failures straight through', async () => {
    const bug = new TypeError('undefined is not a function');
    const primary = target('gpt', [{ fail: bug }, {}]);
    const { options } = harness();

    await expect(callWithResilience([primary], modelRequest(), options)).rejects.toBe(bug);
    expect(primary.provider.requests).toHaveLength(1);
  });

  it('rejects with the abort reason promptly when aborted during the backoff', async () => {
    const controller = new AbortController();
    const primary = target('gpt', [{ fail: status(503, 60_000) }, {}]);
    const reason = new Error('client went away');
    // No injected sleep: the real, abortable one.
    const { options } = harness({ sleep: undefined });
    const started = Date.now();

    const call = callWithResilience(
      [primary],
      modelRequest({ signal: controller.signal }),
      options,
    );
    setTimeout(() => controller.abort(reason), 20);

    await expect(call).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(primary.provider.requests).toHaveLength(1);
  });

  it('reports a failure that raced the abort as the abort', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled');
    const provider: ModelProvider = {
      call: async () => {
        controller.abort(reason);
        throw status(503);
      },
    };
    const { options, attempts } = harness();

    await expect(
      callWithResilience(
        [{ name: 'gpt', provider, upstreamModel: 'gpt' }],
        modelRequest({ signal: controller.signal }),
        options,
      ),
    ).rejects.toBe(reason);
    expect(attempts).toEqual([]);
  });

  it('does not call the provider at all when already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('too late'));
    const primary = target('gpt', [{}]);
    const { options } = harness();

    await expect(
      callWithResilience([primary], modelRequest({ signal: controller.signal }), options),
    ).rejects.toThrow('too late');
    expect(primary.provider.requests).toHaveLength(0);
  });

  describe('streaming', () => {
    it('abandons only attempts that had streamed, before the next attempt', async () => {
      const seen: ModelDelta[] = [];
      const primary = target('gpt', [
        { fail: status(500) },
        { deltas: [TEXT], fail: status(500) },
        { deltas: [TEXT], fail: status(500) },
      ]);
      const fallback = target('local', [{ fail: status(503) }, { deltas: [TEXT] }]);
      const { options, abandons } = harness();

      await callWithResilience(
        [primary, fallback],
        modelRequest({ onDelta: (delta) => seen.push(delta) }),
        options,
      );

      // After the 2nd failure (a retry follows) and the 3rd (the fallback follows); not after
      // the 1st or the fallback's 1st, which streamed nothing.
      expect(abandons).toEqual([2, 3]);
      expect(seen).toEqual([TEXT, TEXT, TEXT]);
    });

    it('gives every attempt its own listener and drops deltas that arrive after it failed', async () => {
      const seen: ModelDelta[] = [];
      let late: ((delta: ModelDelta) => void) | undefined;
      const listeners: unknown[] = [];
      const provider: ModelProvider = {
        call: async (request) => {
          listeners.push(request.onDelta);
          if (listeners.length === 1) {
            late = request.onDelta;
            request.onDelta?.(TEXT);
            throw status(500);
          }
          late?.({ ...TEXT, delta: 'stale' });
          return result('ok');
        },
      };
      const { options, abandons } = harness();

      await callWithResilience(
        [{ name: 'gpt', provider, upstreamModel: 'gpt' }],
        modelRequest({ onDelta: (delta) => seen.push(delta) }),
        options,
      );

      expect(listeners).toHaveLength(2);
      expect(listeners[0]).not.toBe(listeners[1]);
      expect(seen).toEqual([TEXT]);
      expect(abandons).toEqual([1]);
    });

    it('does not abandon when the call gives up, nor stream when the caller did not ask', async () => {
      const streamed = target('gpt', [{ deltas: [TEXT], fail: status(400) }]);
      const { options, abandons } = harness();

      await rejection(
        callWithResilience([streamed], modelRequest({ onDelta: () => undefined }), options),
      );
      expect(abandons).toEqual([]);

      const quiet = target('gpt', [{}]);
      await callWithResilience([quiet], modelRequest(), options);
      expect(quiet.provider.requests[0].onDelta).toBeUndefined();
    });
  });

  it('refuses an empty target list', async () => {
    await expect(callWithResilience([], modelRequest(), harness().options)).rejects.toThrow(
      'at least one target',
    );
  });
});

describe('movesToFallback', () => {
  it.each([
    ['a retryable 503', status(503)],
    ['an auth failure', status(401)],
    ['a model the upstream does not know', status(404)],
    [
      'an exhausted quota',
      upstreamErrorForStatus(429, 'Quota.', { upstreamCode: 'insufficient_quota' }),
    ],
    [
      'a garbled answer',
      new UpstreamError('?', { code: 'upstream_bad_response', retryable: false }),
    ],
  ])('moves on after %s', (_label, error) => {
    expect(movesToFallback(error)).toBe(true);
  });

  it.each([
    ['a 400', status(400)],
    ['a 422', status(422)],
    [
      'a context length error',
      upstreamErrorForStatus(400, 'Too long.', { upstreamCode: 'context_length_exceeded' }),
    ],
    [
      'unsupported input',
      new UpstreamError('No.', { code: 'unsupported_input', retryable: false }),
    ],
  ])('stops after %s', (_label, error) => {
    expect(movesToFallback(error)).toBe(false);
  });
});

describe('resolveTargets', () => {
  const CONFIG = `
models:
  gpt:
    provider: openai-chat
    baseUrl: https://api.openai.com/v1
    upstreamModel: gpt-4o-mini
    fallbacks: [claude, local, gpt, local]
  claude:
    provider: anthropic
    baseUrl: https://api.anthropic.com
    fallbacks: [local]
  local:
    provider: mock
    fallbacks: [gpt]
`;
  const configs = new Map(Object.entries(parseRatchetConfig(CONFIG, 'test.yaml', {}).models));
  // A stand-in for ProviderRegistry, so these tests build no HTTP provider.
  const registry: Pick<ProviderRegistry, 'resolve' | 'list'> = {
    list: () => [...configs].map(([id, config]) => ({ id, config })),
    resolve: (model: string): ResolvedModel => {
      const config = configs.get(model);
      if (!config) throw new Error(`Unknown model '${model}'.`);
      return {
        provider: new ScriptedProvider([{ answer: `from ${model}` }]),
        upstreamModel: config.upstreamModel ?? model,
        config,
        fallbacks: [...config.fallbacks],
      };
    },
  };

  it('lists the model then its own fallbacks in order, once each, not transitively', () => {
    const targets = resolveTargets(registry, 'gpt');

    expect(targets.map((t) => [t.name, t.upstreamModel])).toEqual([
      ['gpt', 'gpt-4o-mini'],
      ['claude', 'claude'],
      ['local', 'local'],
    ]);
    expect(resolveTargets(registry, 'local').map((t) => t.name)).toEqual(['local', 'gpt']);
  });

  it('throws for a model that is not configured', () => {
    expect(() => resolveTargets(registry, 'nope')).toThrow("Unknown model 'nope'.");
  });
});
