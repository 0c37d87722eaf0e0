import { storableRequestText, withStorableRequestText } from './request-text';

describe('storableRequestText', () => {
  it('replaces NUL and lone surrogates with U+FFFD and keeps pairs', () => {
    expect(storableRequestText('a\u0000b')).toBe('a\uFFFDb');
    expect(storableRequestText('\ud800x\udfff')).toBe('\uFFFDx\uFFFD');
    expect(storableRequestText('\udc00\ud800')).toBe('\uFFFD\uFFFD');
    expect(storableRequestText('\ud83d\ude00 \ufeff\u202e')).toBe('\ud83d\ude00 \ufeff\u202e');
    expect(storableRequestText('\ud83d')).toBe('\uFFFD');
  });
});

describe('withStorableRequestText', () => {
  it('cleans strings and keys at any depth, keeping key order and plain __proto__ keys', () => {
    const body = JSON.parse(
      '{"a":"x\\u0000","k\\ud800":[1,"\\udfff",{"__proto__":"\\u0000","b":null}],"z":{"__proto__":{"y":1}}}',
    ) as Record<string, unknown>;
    const clean = withStorableRequestText(body) as Record<string, unknown>;
    expect(Object.keys(clean)).toEqual(['a', 'k\uFFFD', 'z']);
    expect(JSON.stringify(clean)).toBe(
      '{"a":"x\uFFFD","k\uFFFD":[1,"\uFFFD",{"__proto__":"\uFFFD","b":null}],"z":{"__proto__":{"y":1}}}',
    );
    expect(Object.getPrototypeOf(clean.z)).toBe(Object.prototype);
    expect(withStorableRequestText('\u0000')).toBe('\uFFFD');
    expect(withStorableRequestText(null)).toBeNull();
  });

  it('walks nesting far deeper than the stack allows recursion', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}"\\u0000"${']'.repeat(200_000)}`) as unknown;
    let inner = withStorableRequestText(deep);
    while (Array.isArray(inner)) inner = inner[0];
    expect(inner).toBe('\uFFFD');
  });
});
