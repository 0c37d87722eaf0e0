import { admitInTurns } from './admission';

const request = {} as never;
const response = {} as never;

/** Resolves after the current turn of the event loop and the next one's immediates. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('admitInTurns', () => {
  it('lets a request in at once when it comes alone', async () => {
    const admit = admitInTurns(2);
    const order: number[] = [];
    admit(request, response, () => order.push(1));
    expect(order).toEqual([1]);
    await turn();
    admit(request, response, () => order.push(2));
    expect(order).toEqual([1, 2]);
  });

  it('lets requests that arrive together in a few per turn, in the order they came', async () => {
    const admit = admitInTurns(2);
    const order: number[] = [];
    for (let i = 1; i <= 5; i++) admit(request, response, () => order.push(i));
    expect(order).toEqual([1, 2]);
    await turn();
    expect(order).toEqual([1, 2, 3, 4]);
    await turn();
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it('reads I/O between turns, so the first requests can complete while the rest wait', async () => {
    const admit = admitInTurns(1);
    const events: string[] = [];
    admit(request, response, () => {
      events.push('first in');
      // What a request starts (a statement, a job) answers in the poll phase of a later turn.
      setTimeout(() => events.push('first answered'), 0);
    });
    for (let i = 2; i <= 60; i++) admit(request, response, () => events.push(`${i} in`));
    for (let i = 0; i < 60 && events.length < 61; i++) await turn();
    expect(events).toHaveLength(61);
    expect(events.indexOf('first answered')).toBeLessThan(events.indexOf('60 in'));
  });

  it('goes back to letting requests in at once when the queue has drained', async () => {
    const admit = admitInTurns(1);
    const order: number[] = [];
    for (let i = 1; i <= 3; i++) admit(request, response, () => order.push(i));
    await turn();
    await turn();
    expect(order).toEqual([1, 2, 3]);
    await turn();
    admit(request, response, () => order.push(4));
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('admits nothing twice when a request it lets in lets another arrive', async () => {
    const admit = admitInTurns(1);
    const order: string[] = [];
    admit(request, response, () => {
      order.push('a');
      admit(request, response, () => order.push('b'));
    });
    expect(order).toEqual(['a']);
    await turn();
    expect(order).toEqual(['a', 'b']);
  });
});
