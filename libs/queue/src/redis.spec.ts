import { queueKeyPrefix } from './redis';

describe('queueKeyPrefix', () => {
  it('makes the prefix a Redis Cluster hash tag, so all the queue keys share a slot', () => {
    expect(queueKeyPrefix('ratchet')).toBe('{ratchet}');
    expect(queueKeyPrefix('team-a:ratchet')).toBe('{team-a:ratchet}');
  });

  it('keeps a prefix that has a hash tag already', () => {
    expect(queueKeyPrefix('{ratchet}')).toBe('{ratchet}');
    expect(queueKeyPrefix('prod:{ratchet}')).toBe('prod:{ratchet}');
  });
});
