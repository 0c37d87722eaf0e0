import type { UnsequencedEvent } from '@ratchet/core';
import type { AppendOptions } from '@ratchet/store';
import { BatchedWriter, type EventLog } from './event-log';
import { textDelta as delta } from '../../core/src/testing/events';

// The writer's batching against a log that records what it was asked to append; the real
// log (Postgres, Redis) is exercised end to end in test/streaming.e2e-spec.ts.

const added: UnsequencedEvent = {
  type: 'response.output_item.added',
  output_index: 0,
  item: { type: 'message', id: 'msg_1', role: 'assistant', status: 'in_progress', content: [] },
};

class RecordingLog {
  readonly batches: { texts: string[]; options: AppendOptions }[] = [];
  /** Resolves the append under way; appends wait until released. */
  private release: (() => void) | null = null;
  held = false;
  open = true;
  failure: Error | null = null;

  async append(
    _responseId: string,
    events: readonly UnsequencedEvent[],
    options: AppendOptions,
  ): Promise<boolean> {
    this.batches.push({
      texts: events.map((event) => ('delta' in event ? String(event.delta) : event.type)),
      options,
    });
    if (this.failure) throw this.failure;
    if (this.held) await new Promise<void>((resolve) => (this.release = resolve));
    return this.open;
  }

  unhold(): void {
    this.held = false;
    this.release?.();
  }
}

function writer(log: RecordingLog, lingerMs = 0): BatchedWriter {
  return new BatchedWriter(log as unknown as EventLog, 'resp_1', {
    stepId: 'step_1',
    scopeId: 'scope_1',
    lingerMs,
  });
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('BatchedWriter', () => {
  it('writes a lone event at once, and batches what arrives while a write is under way', async () => {
    const log = new RecordingLog();
    const stream = writer(log);
    log.held = true;
    stream.push([delta('a')]);
    await tick();
    expect(log.batches.map((batch) => batch.texts)).toEqual([['a']]);
    stream.push([delta('b')]);
    stream.push([delta('c'), delta('d')]);
    await tick();
    log.unhold();
    await stream.flush();
    expect(log.batches.map((batch) => batch.texts)).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('counts the items a batch announces for the scope', async () => {
    const log = new RecordingLog();
    const stream = writer(log);
    stream.push([added, delta('x')]);
    await stream.flush();
    expect(log.batches[0].options).toEqual({
      stepId: 'step_1',
      items: { scopeId: 'scope_1', count: 1 },
    });
  });

  it('waits lingerMs for company when asked to', async () => {
    const log = new RecordingLog();
    const stream = writer(log, 30);
    stream.push([delta('a')]);
    await tick();
    stream.push([delta('b')]);
    expect(log.batches).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(log.batches.map((batch) => batch.texts)).toEqual([['a', 'b']]);
  });

  it('drops what comes after the log closed (the response ended)', async () => {
    const log = new RecordingLog();
    const stream = writer(log);
    log.open = false;
    stream.push([delta('late')]);
    await stream.flush();
    stream.push([delta('later')]);
    await stream.flush();
    expect(log.batches.map((batch) => batch.texts)).toEqual([['late']]);
  });

  it('reports a write that failed when flushed, and writes nothing after it', async () => {
    const log = new RecordingLog();
    const stream = writer(log);
    log.failure = new Error('Postgres is away');
    stream.push([delta('a')]);
    await expect(stream.flush()).rejects.toThrow('Postgres is away');
    log.failure = null;
    stream.push([delta('b')]);
    await expect(stream.flush()).rejects.toThrow('Postgres is away');
    expect(log.batches).toHaveLength(1);
  });
});
