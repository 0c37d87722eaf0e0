// What the bench started, to be undone in reverse order on success, on error and on Ctrl-C.
// Every action is raced against a deadline so a wedged process or connection can never keep
// the bench from exiting (and from dropping its database).

import { withDeadline } from './waits';

const ACTION_DEADLINE_MS = 10_000;

interface Action {
  name: string;
  run: () => Promise<void>;
}

export class Cleanup {
  private readonly actions: Action[] = [];
  private running: Promise<void> | null = null;

  /**
   * Registers an undo action; actions run last-registered first. The returned function runs
   * the action now instead (once), for things that should end before the run does.
   */
  add(name: string, run: () => Promise<void>): () => Promise<void> {
    let done: Promise<void> | null = null;
    const once = (): Promise<void> => (done ??= run());
    const action = { name, run: once };
    this.actions.push(action);
    return async () => {
      const index = this.actions.indexOf(action);
      if (index >= 0) this.actions.splice(index, 1);
      await withDeadline(once(), ACTION_DEADLINE_MS, `'${name}'`);
    };
  }

  /** Runs every action once, even if several callers (an error and a signal) ask at once. */
  run(log: (line: string) => void): Promise<void> {
    this.running ??= this.runAll(log);
    return this.running;
  }

  private async runAll(log: (line: string) => void): Promise<void> {
    for (const action of [...this.actions].reverse()) {
      try {
        await withDeadline(action.run(), ACTION_DEADLINE_MS, `cleanup '${action.name}'`);
      } catch (error) {
        log(`cleanup: ${action.name} failed: ${(error as Error).message}`);
      }
    }
    this.actions.length = 0;
  }
}
