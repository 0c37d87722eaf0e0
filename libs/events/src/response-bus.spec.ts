import { decodeNotice, encodeEventsNotice } from './response-bus';

describe('event notices', () => {
  it('carry events through their frame unchanged, JSON text and all', () => {
    const events = [
      {
        sequence: 7,
        type: 'response.output_text.delta',
        data: '{"type":"response.output_text.delta","sequence_number":7,"delta":"a b\\nc ☀"}',
      },
      {
        sequence: 8,
        type: 'response.completed',
        data: '{"type":"response.completed","sequence_number":8,"response":{"id":"resp_1"}}',
      },
    ];
    const frame = encodeEventsNotice('resp_1', events);
    expect(frame.split('\n')).toHaveLength(3);
    expect(decodeNotice(frame)).toEqual({ type: 'events', responseId: 'resp_1', events });
    for (const event of events) expect(() => JSON.parse(event.data) as unknown).not.toThrow();
  });

  it('read terminal notices as JSON', () => {
    const notice = { type: 'terminal', responseId: 'resp_2' };
    expect(decodeNotice(JSON.stringify(notice))).toEqual(notice);
  });
});
