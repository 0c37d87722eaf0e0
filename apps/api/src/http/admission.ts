import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Requests let in per turn of the event loop: few enough that the Postgres and Redis answers
 * of the first ones are read between turns, and as many as one batch of statements takes
 * (libs/store/src/sql.ts): at 32 a turn the API spent about a sixth more CPU per step
 * (docs/cpu.md, "Letting a burst in").
 */
export const ADMITTED_PER_TURN = 64;

/**
 * Middleware that lets requests which arrive together in a few per turn of the event loop, in
 * the order they came.
 *
 * Node reads every socket that is ready in one go and handles each request it reads there and
 * then. So 2,000 requests that arrive at once were all parsed, validated and recorded before
 * the answer to the first one's statement was read: no worker heard of any of them until the
 * last was in, three quarters of a second into a burst of 2,000 on a 2-core host, and all of
 * them were held in memory at once. Let in a few per turn, the first ones' statements and
 * jobs complete between turns, and the workers start on them while the rest come in
 * (docs/cpu.md, "Letting a burst in"). Alone, a request goes in at once.
 */
export function admitInTurns(perTurn = ADMITTED_PER_TURN) {
  let admitted = 0;
  let turnScheduled = false;
  let waiting: (() => void)[] = [];
  let head = 0;

  const nextTurn = (): void => {
    turnScheduled = false;
    admitted = 0;
    while (admitted < perTurn && head < waiting.length) {
      const next = waiting[head];
      waiting[head++] = noop;
      admitted += 1;
      next();
    }
    if (head === waiting.length) {
      waiting = [];
      head = 0;
    }
    // This turn's count is reset once it ends, whether or not anyone still waits.
    if (admitted > 0) scheduleTurn();
  };
  const scheduleTurn = (): void => {
    if (turnScheduled) return;
    turnScheduled = true;
    setImmediate(nextTurn);
  };

  return (_request: IncomingMessage, _response: ServerResponse, next: () => void): void => {
    scheduleTurn();
    if (admitted < perTurn && head === waiting.length) {
      admitted += 1;
      next();
    } else {
      waiting.push(next);
    }
  };
}

function noop(): void {}
