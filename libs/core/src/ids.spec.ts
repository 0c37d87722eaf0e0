import { newId, stepId } from './ids';

describe('newId', () => {
  it('gives the prefix and 24 hex characters, 48 for a key, a conversation or a scope', () => {
    expect(newId('msg')).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(newId('call')).toMatch(/^call_[0-9a-f]{24}$/);
    expect(newId('resp')).toMatch(/^resp_[0-9a-f]{24}$/);
    expect(newId('scope')).toMatch(/^scope_[0-9a-f]{48}$/);
    expect(newId('conv')).toMatch(/^conv_[0-9a-f]{48}$/);
    expect(newId('key')).toMatch(/^key_[0-9a-f]{48}$/);
  });

  it('never repeats when long and short ids are drawn from one pool', () => {
    const ids = Array.from({ length: 3000 }, (_, i) => newId(i % 3 === 0 ? 'key' : 'msg'));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('never repeats, across refills of its random pool', () => {
    const ids = Array.from({ length: 2000 }, () => newId('msg'));
    expect(new Set(ids).size).toBe(ids.length);
    // Consecutive ids share no bytes: each takes fresh ones.
    for (let i = 1; i < ids.length; i++) expect(ids[i].slice(4)).not.toBe(ids[i - 1].slice(4));
  });
});

describe('stepId', () => {
  const scope = `scope_${'ab'.repeat(24)}`;

  it('gives step_ and 24 hex characters, the same for the same scope, round and index', () => {
    expect(stepId(scope, 3, 1)).toMatch(/^step_[0-9a-f]{24}$/);
    expect(stepId(scope, 3, 1)).toBe(stepId(scope, 3, 1));
  });

  it('differs with any of the three', () => {
    const ids = new Set<string>();
    for (const s of [scope, `scope_${'cd'.repeat(24)}`]) {
      for (let round = 0; round < 30; round++) {
        for (let index = 0; index < 30; index++) ids.add(stepId(s, round, index));
      }
    }
    expect(ids.size).toBe(2 * 30 * 30);
    // Round 1 index 11 and round 11 index 1 are told apart.
    expect(stepId(scope, 1, 11)).not.toBe(stepId(scope, 11, 1));
  });
});
