import type { Item } from '@ratchet/core';
import { ConversationCache } from './conversation-cache';

const message = (text: string): Item => ({
  type: 'message',
  id: `msg_${text}`,
  role: 'user',
  status: 'completed',
  content: [{ type: 'input_text', text }],
});
const bytesOf = (items: Item[]): number => Buffer.byteLength(JSON.stringify(items));

describe('ConversationCache', () => {
  it('gives back what it was told, until forgotten', () => {
    const cache = new ConversationCache(1_000_000);
    cache.remember('resp_a', [message('a')]);
    expect(cache.get('resp_a')).toEqual([message('a')]);
    cache.forget('resp_a');
    expect(cache.get('resp_a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps at most maxEntries, dropping the least recently used', () => {
    const cache = new ConversationCache(1_000_000, 2);
    cache.remember('resp_a', [message('a')]);
    cache.remember('resp_b', [message('b')]);
    expect(cache.get('resp_a')).toBeDefined(); // a is now more recent than b
    cache.remember('resp_c', [message('c')]);
    expect(cache.get('resp_b')).toBeUndefined();
    expect(cache.get('resp_a')).toBeDefined();
    expect(cache.get('resp_c')).toBeDefined();
  });

  it('keeps within its byte budget, but never drops the newest', () => {
    const one = [message('x'.repeat(100))];
    const cache = new ConversationCache(bytesOf(one) * 2);
    cache.remember('resp_a', one);
    cache.remember('resp_b', one);
    expect(cache.size).toBe(2);
    cache.remember('resp_c', one);
    expect(cache.size).toBe(2);
    expect(cache.get('resp_a')).toBeUndefined();

    const huge = [message('y'.repeat(10_000))];
    cache.remember('resp_huge', huge);
    expect(cache.size).toBe(1);
    expect(cache.get('resp_huge')).toBe(huge);
  });

  it('counts a conversation remembered again once', () => {
    const one = [message('x'.repeat(100))];
    const cache = new ConversationCache(bytesOf(one) * 2);
    cache.remember('resp_a', one);
    cache.remember('resp_a', one);
    cache.remember('resp_b', one);
    expect(cache.size).toBe(2);
  });
});
