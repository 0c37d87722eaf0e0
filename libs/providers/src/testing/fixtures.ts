import type { ModelItem } from '@ratchet/core';
import { type ModelCallRequest, UpstreamError } from '../provider';

// Shared fixtures of the provider specs.

export function userMessage(text: string): ModelItem {
  return {
    type: 'message',
    id: 'msg_u',
    role: 'user',
    status: 'completed',
    content: [{ type: 'input_text', text }],
  };
}

/** A plain model call: one user message, no tools, no sampling settings. */
export function modelRequest(overrides: Partial<ModelCallRequest> = {}): ModelCallRequest {
  return {
    model: 'gpt-test',
    instructions: null,
    input: [userMessage('Hi')],
    tools: [],
    toolChoice: 'auto',
    parallelToolCalls: true,
    maxOutputTokens: null,
    temperature: null,
    topP: null,
    textFormat: null,
    ...overrides,
  };
}

/** What `promise` rejected with, which must be an UpstreamError. */
export async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

/** Waits for `promise`, failing the test instead of hanging when it does not settle. */
export async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
