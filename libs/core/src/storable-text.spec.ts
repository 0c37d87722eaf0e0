import fc from 'fast-check';
import { hasUnstorableText, storableJson, storableText } from './storable-text';

const R = '\uFFFD';

describe('storableText', () => {
  it.each([
    ['plain', 'plain'],
    ['a\u0000b', `a${R}b`],
    ['\u0000\u0000', `${R}${R}`],
    ['lone high \uD83D end', `lone high ${R} end`],
    ['lone low \uDE00 end', `lone low ${R} end`],
    ['\uDE00\uD83D', `${R}${R}`],
    ['pair \uD83D\uDE00 kept', 'pair \uD83D\uDE00 kept'],
    ['high at end \uD83D', `high at end ${R}`],
    ['\uFEFFbom and \uFFFF non-characters stay', '\uFEFFbom and \uFFFF non-characters stay'],
  ])('%j becomes %j', (input, expected) => {
    expect(storableText(input)).toBe(expected);
  });

  it('returns the same string when there is nothing to replace', () => {
    const text = 'é 😀 \u0001';
    expect(storableText(text)).toBe(text);
    expect(hasUnstorableText(text)).toBe(false);
  });

  it('always yields well-formed text without NUL, of the same length', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const stored = storableText(text);
        expect(stored.length).toBe(text.length);
        expect(stored.includes('\u0000')).toBe(false);
        // Well-formed UTF-16 survives a UTF-8 round trip unchanged.
        expect(Buffer.from(stored, 'utf8').toString('utf8')).toBe(stored);
        expect(storableText(stored)).toBe(stored);
        if (!hasUnstorableText(text)) expect(stored).toBe(text);
      }),
      { seed: 1, numRuns: 500 },
    );
  });
});

describe('storableJson', () => {
  it('replaces in nested strings and keys, leaving other values alone', () => {
    const date = new Date(0);
    const value = { 'k\u0000': ['x\uD800', 1, null, true, { deep: 'ok' }], date, n: 2 };
    expect(storableJson(value)).toEqual({
      [`k${R}`]: [`x${R}`, 1, null, true, { deep: 'ok' }],
      date,
      n: 2,
    });
  });

  it('returns the same object when nothing needs replacing', () => {
    const value = { a: ['b', { c: 'd' }], e: 1 };
    expect(storableJson(value)).toBe(value);
  });

  it('always yields JSON that round-trips without unstorable text', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.string({ unit: 'binary' }), (json, text) => {
        const stored = storableJson({ json, text, [text]: text });
        expect(hasUnstorableText(JSON.stringify(JSON.parse(JSON.stringify(stored))))).toBe(false);
        expect(JSON.stringify(stored)).not.toMatch(/\\u0000|\\ud[89ab]|\\ud[c-f]/i);
      }),
      { seed: 1, numRuns: 300 },
    );
  });
});
