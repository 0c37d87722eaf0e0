import { DrainState } from './drain-state';

describe('DrainState', () => {
  it('is not draining until asked, then stays draining', async () => {
    const state = new DrainState();
    expect(state.draining).toBe(false);
    await state.drain();
    expect(state.draining).toBe(true);
  });

  it('calls each stopper once and resolves when all have finished', async () => {
    const state = new DrainState();
    const calls: string[] = [];
    let finishJobs: () => void = () => undefined;
    state.onDrain(() => {
      calls.push('jobs');
      return new Promise((resolve) => (finishJobs = resolve));
    });
    state.onDrain(() => {
      calls.push('other');
      return Promise.resolve();
    });
    let done = false;
    const first = state.drain().then(() => (done = true));
    const second = state.drain();
    expect(state.draining).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(done).toBe(false);
    finishJobs();
    await Promise.all([first, second]);
    expect(done).toBe(true);
    expect(calls).toEqual(['jobs', 'other']);
  });
});
