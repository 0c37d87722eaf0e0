import { newSealingKey, Sealer, sealWith, unsealWith } from './sealer';

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 9);

/** `sealed` with the byte at `index` (of its decoded bytes) flipped. */
function flipByte(sealed: string, index: number): string {
  const bytes = Buffer.from(sealed, 'base64url');
  bytes[index] ^= 0x01;
  return bytes.toString('base64url');
}

describe('sealWith / unsealWith', () => {
  it('opens what it sealed, for the same purpose under the same key', () => {
    for (const plaintext of ['', 'summary', 'ünïcödé 🚀 and\nnew lines', 'x'.repeat(100_000)]) {
      const sealed = sealWith(key, 'compaction', plaintext);
      expect(unsealWith(key, 'compaction', sealed)).toEqual({ ok: true, plaintext });
    }
  });

  it('is opaque: base64url text that does not contain the plaintext, new every time', () => {
    const first = sealWith(key, 'compaction', 'the launch is on Tuesday');
    const second = sealWith(key, 'compaction', 'the launch is on Tuesday');
    expect(first).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(first).not.toBe(second);
    expect(Buffer.from(first, 'base64url').toString('latin1')).not.toContain('Tuesday');
  });

  it('refuses a value altered anywhere after its header: IV, tag or ciphertext', () => {
    const sealed = sealWith(key, 'compaction', 'a summary of some length');
    const length = Buffer.from(sealed, 'base64url').length;
    for (let index = 5; index < length; index++) {
      expect(unsealWith(key, 'compaction', flipByte(sealed, index))).toEqual({
        ok: false,
        reason: 'tampered',
      });
    }
  });

  it('refuses a value cut short or lengthened', () => {
    const sealed = sealWith(key, 'compaction', 'a summary');
    const bytes = Buffer.from(sealed, 'base64url');
    const shorter = bytes.subarray(0, bytes.length - 1).toString('base64url');
    const longer = Buffer.concat([bytes, Buffer.from([0])]).toString('base64url');
    expect(unsealWith(key, 'compaction', shorter)).toEqual({ ok: false, reason: 'tampered' });
    expect(unsealWith(key, 'compaction', longer)).toEqual({ ok: false, reason: 'tampered' });
  });

  it('tells a value sealed under another key (another deployment) apart', () => {
    const sealed = sealWith(otherKey, 'compaction', 'a summary');
    expect(unsealWith(key, 'compaction', sealed)).toEqual({ ok: false, reason: 'other_key' });
    // A key id altered to match is caught by the tag.
    const rekeyed = Buffer.from(sealed, 'base64url');
    Buffer.from(sealWith(key, 'x', ''), 'base64url').copy(rekeyed, 1, 1, 5);
    expect(unsealWith(key, 'compaction', rekeyed.toString('base64url'))).toEqual({
      ok: false,
      reason: 'tampered',
    });
  });

  it('opens a value only as what it was sealed as (its purpose)', () => {
    const sealed = sealWith(key, 'mcp-authorization', 'Bearer secret');
    expect(unsealWith(key, 'compaction', sealed)).toEqual({ ok: false, reason: 'tampered' });
  });

  it.each([
    ['empty text', ''],
    ['text that is not base64url', 'not base64!'],
    ['standard base64 padding', `${sealWith(key, 'compaction', 'x')}==`],
    ['too few bytes', Buffer.alloc(20).toString('base64url')],
    ['an unknown version', flipByte(sealWith(key, 'compaction', 'x'), 0)],
  ])('calls %s malformed', (_what, sealed) => {
    expect(unsealWith(key, 'compaction', sealed)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('takes 32-byte keys only', () => {
    expect(() => sealWith(Buffer.alloc(16), 'compaction', 'x')).toThrow(/32 bytes, not 16/);
    expect(newSealingKey()).toHaveLength(32);
    expect(newSealingKey()).not.toEqual(newSealingKey());
  });
});

describe('Sealer', () => {
  it('fetches its key once, on first use', async () => {
    const source = jest.fn(() => Promise.resolve(key));
    const sealer = new Sealer(source);
    expect(source).not.toHaveBeenCalled();
    const sealed = await sealer.seal('compaction', 'hello');
    expect(await sealer.unseal('compaction', sealed)).toEqual({ ok: true, plaintext: 'hello' });
    expect(unsealWith(key, 'compaction', sealed)).toEqual({ ok: true, plaintext: 'hello' });
    expect(source).toHaveBeenCalledTimes(1);
  });

  it('fetches the key again after a failed fetch', async () => {
    const source = jest
      .fn<Promise<Buffer>, []>()
      .mockRejectedValueOnce(new Error('Postgres is away'))
      .mockResolvedValue(key);
    const sealer = new Sealer(source);
    await expect(sealer.seal('compaction', 'x')).rejects.toThrow('Postgres is away');
    const sealed = await sealer.seal('compaction', 'x');
    expect(unsealWith(key, 'compaction', sealed).ok).toBe(true);
    expect(source).toHaveBeenCalledTimes(2);
  });

  it('refuses a key of the wrong length', async () => {
    const sealer = new Sealer(() => Promise.resolve(Buffer.alloc(31)));
    await expect(sealer.seal('compaction', 'x')).rejects.toThrow(/32 bytes/);
  });
});
