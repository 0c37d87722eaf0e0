import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, type OperationsOverview } from './api';
import { ago } from './format';
import { useEventStream, useNow, useThrottle } from './live';

function Stat({
  label,
  value,
  tone,
}: {
  label: string;
  value: number;
  tone?: 'warn' | 'bad' | 'good';
}) {
  return (
    <div class={`stat ${tone && value > 0 ? `stat-${tone}` : ''}`} data-stat={label}>
      <div class="stat-value">{value}</div>
      <div class="stat-label">{label}</div>
    </div>
  );
}

/** Workers and queues change without notices: read again this often while the view is open. */
const REFRESH_MS = 10_000;

export function OperationsView({ apiKey }: { apiKey: string }) {
  const [overview, setOverview] = useState<OperationsOverview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const now = useNow(5000);
  const load = (): void => {
    getJson<OperationsOverview>(apiKey, '/v1/console/overview')
      .then((answer) => {
        setOverview(answer);
        setError(null);
      })
      .catch((failure: unknown) =>
        setError(failure instanceof ApiError ? failure.message : String(failure)),
      );
  };
  const reload = useThrottle(load, 1000);
  useEffect(() => {
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, [apiKey]);
  useEventStream(apiKey, '/v1/console/changes', (message) => {
    if (message.event === 'changes') reload();
  });

  if (!overview) {
    return (
      <main class="page">
        {error ? <p class="banner banner-error">{error}</p> : <div class="loading">Loading…</div>}
      </main>
    );
  }
  const { queue, recovery } = overview;
  const maxRunning = Math.max(1, ...overview.workers.map((w) => w.running_steps));
  return (
    <main class="page" data-testid="operations">
      <div class="page-head">
        <h1>Operations</h1>
        <span class="muted small">updated {ago(overview.generated_at, now)}</span>
      </div>
      {error && <p class="banner banner-error">{error}</p>}
      <div class="ops-grid">
        <section class="card">
          <h2>Queue</h2>
          <div class="stats">
            <Stat label="waiting" value={queue.waiting} tone="warn" />
            <Stat label="active" value={queue.active} tone="good" />
            <Stat label="delayed" value={queue.delayed} tone="warn" />
            <Stat label="prioritized" value={queue.prioritized} />
            <Stat label="failed" value={queue.failed} tone="bad" />
          </div>
        </section>
        <section class="card">
          <h2>Responses and recovery</h2>
          <div class="stats">
            <Stat label="live" value={recovery.live_responses} tone="good" />
            <Stat label="queued" value={recovery.queued_responses} tone="warn" />
            <Stat label="expired leases" value={recovery.expired_leases} tone="bad" />
            <Stat label="awaiting a slot" value={recovery.undispatched_steps} />
            <Stat label="re-run steps (1 h)" value={recovery.retried_steps} tone="warn" />
          </div>
          <p class="muted small">
            The sweeper takes over steps whose lease expired and requeues work whose job was lost; a
            step that ran more than once was taken over or retried.
          </p>
        </section>
      </div>
      <section class="card">
        <h2>
          Workers <span class="note">{overview.workers.filter((w) => w.alive).length} live</span>
        </h2>
        <table class="plain" data-testid="workers">
          <thead>
            <tr>
              <th>Worker</th>
              <th>Host · pid</th>
              <th>Up since</th>
              <th>State</th>
              <th>In-flight steps</th>
            </tr>
          </thead>
          <tbody>
            {overview.workers.map((worker) => (
              <tr key={worker.id} data-worker={worker.id}>
                <td>
                  <code>{worker.id}</code>
                </td>
                <td>
                  {worker.host} · {worker.pid}
                </td>
                <td>{ago(worker.started_at, now)}</td>
                <td>
                  <span class={`pill ${worker.alive ? 'pill-completed' : 'pill-failed'}`}>
                    <span class="dot" />
                    {worker.alive ? 'alive' : 'gone'}
                  </span>
                </td>
                <td>
                  <div class="inflight">
                    <span class="meter">
                      <span style={{ width: `${(worker.running_steps / maxRunning) * 100}%` }} />
                    </span>
                    <b>{worker.running_steps}</b>
                    <span class="muted small">
                      {Object.entries(worker.running_by_kind)
                        .map(([kind, n]) => `${n} ${kind.replace('_call', '')}`)
                        .join(' · ')}
                    </span>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {overview.workers.length === 0 && <p class="empty">No worker is registered.</p>}
      </section>
      <section class="card">
        <h2>
          Upstream model calls{' '}
          <span class="note">responses of the last {Math.round(overview.window_s / 60)} min</span>
        </h2>
        <table class="plain" data-testid="upstream">
          <thead>
            <tr>
              <th>Model</th>
              <th class="num">Calls</th>
              <th class="num">Failed</th>
              <th>Error rate</th>
              <th class="num">Backed off</th>
              <th>Errors</th>
            </tr>
          </thead>
          <tbody>
            {overview.upstream.map((row) => {
              const rate = row.calls ? row.failed / row.calls : 0;
              return (
                <tr key={row.model}>
                  <td>{row.model}</td>
                  <td class="num">{row.calls}</td>
                  <td class="num">{row.failed}</td>
                  <td>
                    <div class="inflight">
                      <span
                        class={`meter ${rate > 0.1 ? 'meter-bad' : rate > 0 ? 'meter-warn' : ''}`}
                      >
                        <span style={{ width: `${Math.max(rate * 100, rate > 0 ? 2 : 0)}%` }} />
                      </span>
                      {(rate * 100).toFixed(1)}%
                    </div>
                  </td>
                  <td class="num">{row.backed_off}</td>
                  <td>
                    {Object.entries(row.codes).map(([code, n]) => (
                      <span key={code} class="tag tag-error">
                        {code} × {n}
                      </span>
                    ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {overview.upstream.length === 0 && <p class="empty">No model calls in this window.</p>}
      </section>
    </main>
  );
}
