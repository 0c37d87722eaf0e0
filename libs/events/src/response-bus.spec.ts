import {
  decodeNotice,
  encodeEventsNotice,
  encodeTerminalNotice,
  terminalNoticeId,
} from './response-bus';

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

  it('read terminal notices in their frame, and as the plain JSON sent before it', () => {
    const notice = { type: 'terminal' as const, responseId: 'resp_2' };
    expect(decodeNotice(encodeTerminalNotice(notice))).toEqual(notice);
    expect(decodeNotice(JSON.stringify(notice))).toEqual(notice);
  });

  it("name a terminal notice's response without parsing what it carries", () => {
    const frame = encodeTerminalNotice({ type: 'terminal', responseId: 'resp_3' });
    expect(terminalNoticeId(frame)).toBe('resp_3');
    // What follows the id is not read: a notice for another process's request costs no parse.
    expect(terminalNoticeId('T resp_4\n{not json')).toBe('resp_4');
    expect(terminalNoticeId(JSON.stringify({ type: 'terminal', responseId: 'resp_5' }))).toBeNull();
    expect(terminalNoticeId('T resp_6')).toBeNull();
  });
});
