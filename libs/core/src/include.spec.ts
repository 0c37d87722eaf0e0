import { RatchetError } from './errors';
import {
  includesEncryptedReasoning,
  INCLUDABLE,
  refuseIncludesForModel,
  refuseUnservedIncludes,
  visibleItem,
} from './include';
import { assistantMessage, type ReasoningItem } from './items';

function thrown(run: () => void): RatchetError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RatchetError);
    return error as RatchetError;
  }
  throw new Error('expected a RatchetError');
}

const reasoning: ReasoningItem = {
  type: 'reasoning',
  id: 'rs_1',
  summary: [],
  encrypted_content: 'opaque',
  status: 'completed',
};

describe('include', () => {
  it("knows every value of OpenAI's ResponseIncludable", () => {
    expect(INCLUDABLE).toHaveLength(8);
  });

  it('lets through what ratchet honours, and no include at all', () => {
    expect(() => refuseUnservedIncludes(undefined)).not.toThrow();
    expect(() => refuseUnservedIncludes(null)).not.toThrow();
    expect(() =>
      refuseUnservedIncludes(['reasoning.encrypted_content', 'message.input_image.image_url']),
    ).not.toThrow();
  });

  it('names the first value no model could serve', () => {
    const error = thrown(() =>
      refuseUnservedIncludes(['reasoning.encrypted_content', 'code_interpreter_call.outputs']),
    );
    expect(error.param).toBe('include[1]');
    expect(error.code).toBe('unsupported_include');
  });

  describe('encrypted reasoning, by provider', () => {
    it.each(['openai-responses', 'anthropic'])('is served by %s models', (provider) => {
      expect(() =>
        refuseIncludesForModel(['reasoning.encrypted_content'], { name: 'm', provider }),
      ).not.toThrow();
    });

    it.each(['openai-chat', 'mock'])('is refused for %s models, naming the model', (provider) => {
      const error = thrown(() =>
        refuseIncludesForModel(['message.input_image.image_url', 'reasoning.encrypted_content'], {
          name: 'gpt-4o',
          provider,
        }),
      );
      expect(error.param).toBe('include[1]');
      expect(error.code).toBe('unsupported_include');
      expect(error.message).toBe(
        `'reasoning.encrypted_content' cannot be included with model 'gpt-4o': its upstream ` +
          `(provider ${provider}) returns no encrypted reasoning. Use a model of provider ` +
          `openai-responses or anthropic, or leave the value out.`,
      );
    });

    it('does not concern requests that do not ask for it', () => {
      expect(() =>
        refuseIncludesForModel(['message.input_image.image_url'], {
          name: 'mock',
          provider: 'mock',
        }),
      ).not.toThrow();
      expect(includesEncryptedReasoning(null)).toBe(false);
      expect(includesEncryptedReasoning(['reasoning.encrypted_content'])).toBe(true);
    });
  });

  describe('visibleItem', () => {
    it("hides reasoning's encrypted content unless it was included", () => {
      expect(visibleItem(reasoning, undefined)).toEqual({
        type: 'reasoning',
        id: 'rs_1',
        summary: [],
        status: 'completed',
      });
      expect(visibleItem(reasoning, ['reasoning.encrypted_content'])).toBe(reasoning);
    });

    it('leaves other items and reasoning without encrypted content as they are', () => {
      const message = assistantMessage('msg_1', 'Hi');
      const plain: ReasoningItem = { type: 'reasoning', id: 'rs_2', summary: [] };
      expect(visibleItem(message, undefined)).toBe(message);
      expect(visibleItem(plain, undefined)).toBe(plain);
    });
  });
});
