import { useState } from 'preact/hooks';
import type { WorkerView } from '../api';
import { ago } from '../format';

const DRAIN_LABEL: Record<WorkerView['drain'], string> = {
  active: 'active',
  drain_requested: 'drain requested',
  draining: 'draining',
  drained: 'drained',
};

const DRAIN_PILL: Record<WorkerView['drain'], string> = {
  active: 'pill-completed',
  drain_requested: 'pill-queued',
  draining: 'pill-cancelled',
  drained: 'pill-drained',
};

/**
 * The live workers: what each runs now, and its drain state. Drain asks once more before it
 * acts; the state then follows the worker's own notices (draining, drained).
 */
export function WorkersCard({
  workers,
  now,
  onDrain,
}: {
  workers: WorkerView[];
  now: number;
  onDrain: (id: string) => Promise<void>;
}) {
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const maxRunning = Math.max(1, ...workers.map((w) => w.in_flight_steps));
  const drain = (id: string): void => {
    setBusy(id);
    void onDrain(id).finally(() => {
      setBusy(null);
      setConfirming(null);
    });
  };
  return (
    <section class="card">
      <h2>
        Workers{' '}
        <span class="note">{workers.filter((w) => w.drain === 'active').length} taking jobs</span>
      </h2>
      <table class="plain" data-testid="workers">
        <thead>
          <tr>
            <th>Worker</th>
            <th>Host · pid</th>
            <th>Up since</th>
            <th>In-flight steps</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {workers.map((worker) => (
            <tr key={worker.id} data-worker={worker.id} data-drain={worker.drain}>
              <td>
                <code>{worker.id}</code>
              </td>
              <td>
                {worker.host} · {worker.pid}
              </td>
              <td>{ago(worker.started_at, now)}</td>
              <td>
                <div class="inflight">
                  <span class="meter">
                    <span style={{ width: `${(worker.in_flight_steps / maxRunning) * 100}%` }} />
                  </span>
                  <b>{worker.in_flight_steps}</b>
                  <span class="muted small">
                    {Object.entries(worker.in_flight_by_kind)
                      .map(([kind, n]) => `${n} ${kind.replace('_call', '')}`)
                      .join(' · ')}
                  </span>
                </div>
              </td>
              <td>
                <span class={`pill ${DRAIN_PILL[worker.drain]}`} data-testid="drain-state">
                  <span class="dot" />
                  {DRAIN_LABEL[worker.drain]}
                </span>
                {worker.drained_at && (
                  <span class="muted small"> {ago(worker.drained_at, now)}</span>
                )}
              </td>
              <td class="row-actions">
                {worker.drain === 'active' &&
                  (confirming === worker.id ? (
                    <>
                      <button
                        class="danger"
                        disabled={busy === worker.id}
                        onClick={() => drain(worker.id)}
                      >
                        Confirm drain
                      </button>
                      <button class="ghost" onClick={() => setConfirming(null)}>
                        Keep
                      </button>
                    </>
                  ) : (
                    <button class="secondary" onClick={() => setConfirming(worker.id)}>
                      Drain
                    </button>
                  ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {workers.length === 0 && <p class="empty">No worker is running.</p>}
    </section>
  );
}
