import { decodeResponse } from './openai-responses.decoder';
import { ResponsesStreamAssembler } from './openai-responses.stream';
import type { ModelDelta } from './provider';

function message(phase?: string | null): Record<string, unknown> {
  return {
    type: 'message',
    id: 'msg_up',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: 'Looking.', annotations: [] }],
    ...(phase !== undefined ? { phase } : {}),
  };
}

function response(output: unknown[]): Record<string, unknown> {
  return { id: 'resp_up', status: 'completed', output, usage: null };
}

describe('Responses API message phase', () => {
  it('keeps the phase the upstream gave its message', () => {
    const [commentary] = decodeResponse(response([message('commentary')])).output;
    const [final] = decodeResponse(response([message('final_answer')])).output;
    expect(commentary).toMatchObject({ type: 'message', phase: 'commentary' });
    expect(final).toMatchObject({ type: 'message', phase: 'final_answer' });
  });

  it('leaves phase out when the upstream gave none, null, or one ratchet does not know', () => {
    for (const phase of [undefined, null, 'draft']) {
      expect(decodeResponse(response([message(phase)])).output[0]).not.toHaveProperty('phase');
    }
  });

  it("labels a streamed message's deltas with the phase its announcement gave", () => {
    const deltas: ModelDelta[] = [];
    const assembler = new ResponsesStreamAssembler((delta) => deltas.push(delta));
    const announced = { ...message('commentary'), status: 'in_progress', content: [] };
    assembler.push({ type: 'response.output_item.added', output_index: 0, item: announced });
    assembler.push({
      type: 'response.output_text.delta',
      item_id: 'msg_up',
      output_index: 0,
      content_index: 0,
      delta: 'Looking.',
    });
    assembler.push({ type: 'response.completed', response: response([message('commentary')]) });
    const [item] = assembler.result().output;
    expect(deltas).toEqual([
      { type: 'text', itemId: item.id, delta: 'Looking.', phase: 'commentary' },
    ]);
    expect(item).toMatchObject({ phase: 'commentary' });
  });
});
