import { dialectOf, presentEvent, type WireEvent } from './event-dialect';
import { agentEvent, sequenceEvents, type UnsequencedEvent } from './events';

/** An event as the log holds it: its type, and its JSON text with `type` first. */
function logged(event: UnsequencedEvent): WireEvent {
  const [numbered] = sequenceEvents([event], 7);
  return { type: numbered.type, data: JSON.stringify(numbered) };
}

const reasoningDelta: UnsequencedEvent = {
  type: 'response.reasoning.delta',
  item_id: 'rs_1',
  output_index: 0,
  content_index: 0,
  // Text that looks like an event must stay as it is.
  delta: 'say {"type":"response.reasoning.delta"}',
};

describe('dialectOf', () => {
  it('is open_responses for a client that sends OpenResponses-Version, openai otherwise', () => {
    expect(dialectOf({ 'openresponses-version': 'latest' })).toBe('open_responses');
    expect(dialectOf({ 'user-agent': 'OpenAI/JS 7.59.0' })).toBe('openai');
  });
});

describe('presentEvent', () => {
  it('names raw reasoning events as OpenAI does for the openai dialect, and nothing else', () => {
    const shown = presentEvent(logged(reasoningDelta), 'openai');
    expect(shown.type).toBe('response.reasoning_text.delta');
    expect(JSON.parse(shown.data)).toEqual({
      ...reasoningDelta,
      type: 'response.reasoning_text.delta',
      sequence_number: 7,
    });
  });

  it('keeps the Open Responses names for the open_responses dialect', () => {
    const event = logged(reasoningDelta);
    expect(presentEvent(event, 'open_responses')).toBe(event);
  });

  it("renames a sub-agent's reasoning inside its agent event", () => {
    const wrapped = logged(
      agentEvent(
        { step_id: 'step_1', call_id: 'call_1', name: 'helper', depth: 1 },
        reasoningDelta,
      ),
    );
    const shown = presentEvent(wrapped, 'openai');
    expect(shown.type).toBe('ratchet:agent.event');
    expect((JSON.parse(shown.data) as { event: { type: string; delta: string } }).event).toEqual({
      ...reasoningDelta,
      type: 'response.reasoning_text.delta',
    });
  });

  it.each(['openai', 'open_responses'] as const)(
    'ends a cancelled response with response.incomplete for the %s dialect',
    (dialect) => {
      const event = {
        type: 'response.cancelled',
        data: '{"type":"response.cancelled","response":{}}',
      };
      expect(presentEvent(event, dialect)).toEqual({
        type: 'response.incomplete',
        data: '{"type":"response.incomplete","response":{}}',
      });
    },
  );

  it('leaves every other event untouched', () => {
    const event = {
      type: 'response.output_text.delta',
      data: '{"type":"response.output_text.delta"}',
    };
    expect(presentEvent(event, 'openai')).toBe(event);
  });
});
