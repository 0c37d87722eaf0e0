import { newId } from './ids';

describe('newId', () => {
  it('gives the prefix and 48 hex characters, 24 for a step', () => {
    expect(newId('resp')).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(newId('step')).toMatch(/^step_[0-9a-f]{24}$/);
  });

  it('never repeats, across refills of its random pool', () => {
    const ids = Array.from({ length: 2000 }, () => newId('msg'));
    expect(new Set(ids).size).toBe(ids.length);
    // Consecutive ids share no bytes: each takes fresh ones.
    for (let i = 1; i < ids.length; i++) expect(ids[i].slice(4)).not.toBe(ids[i - 1].slice(4));
  });

  it('never repeats when short and long ids share the pool', () => {
    const ids = Array.from({ length: 3000 }, (_, i) => newId(i % 3 === 0 ? 'step' : 'fc'));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
