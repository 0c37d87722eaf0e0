import type { IncomingMessage } from 'node:http';
import { chooseRequestId, requestIdOf } from './request-id';

describe('request ids', () => {
  it("keeps a client's plain id and replaces anything else", () => {
    expect(chooseRequestId('abc-123_X.y:z')).toBe('abc-123_X.y:z');
    for (const bad of [
      undefined,
      '',
      'a b',
      'x'.repeat(129),
      'a\r\nSet-Cookie: x',
      ['a', 'b'],
      'é',
    ]) {
      expect(chooseRequestId(bad)).toMatch(/^req_[0-9a-f]{32}$/);
    }
  });

  it('gives one request the same id every time it is asked', () => {
    const request = { headers: {} } as IncomingMessage;
    expect(requestIdOf(request)).toBe(requestIdOf(request));
  });
});
