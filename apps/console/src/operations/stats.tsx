import type { Overview } from '../api';
import { ago } from '../format';

export function Stat({
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

/** Queue depths, summed over the queues. */
export function QueueCard({ overview }: { overview: Overview }) {
  const sum = (state: string): number =>
    Object.values(overview.queues).reduce((total, counts) => total + (counts[state] ?? 0), 0);
  return (
    <section class="card">
      <h2>Queue</h2>
      <div class="stats">
        <Stat label="waiting" value={sum('waiting')} tone="warn" />
        <Stat label="active" value={sum('active')} tone="good" />
        <Stat label="delayed" value={sum('delayed')} tone="warn" />
        <Stat label="prioritized" value={sum('prioritized')} />
        <Stat label="failed" value={sum('failed')} tone="bad" />
      </div>
    </section>
  );
}

/** Live responses, and what recovery has to do now. */
export function BacklogCard({ overview }: { overview: Overview }) {
  const { by_status: byStatus } = overview.responses;
  const { backlog } = overview.recovery;
  return (
    <section class="card">
      <h2>Responses and recovery</h2>
      <div class="stats">
        <Stat label="in progress" value={byStatus.in_progress ?? 0} tone="good" />
        <Stat label="queued" value={byStatus.queued ?? 0} tone="warn" />
        <Stat label="expired leases" value={backlog.expired_leases} tone="bad" />
        <Stat label="awaiting a slot" value={backlog.undispatched_steps} />
        <Stat
          label={`re-run steps (${windowLabel(overview.window_seconds)})`}
          value={backlog.retried_steps}
          tone="warn"
        />
      </div>
    </section>
  );
}

const KIND_LABEL = { sweep: 'sweep', takeover: 'takeover', admin: 'operator' } as const;

/** When the sweeper last ran and what recovery queued again lately. */
export function SweeperCard({ overview, now }: { overview: Overview; now: number }) {
  const { recovery } = overview;
  const when = (iso: string | null): string => (iso ? ago(iso, now) : 'never');
  return (
    <section class="card" data-testid="sweeper">
      <h2>
        Sweeper activity <span class="note">last sweep {when(recovery.last_sweep_at)}</span>
      </h2>
      <div class="stats">
        {(['sweep', 'takeover', 'admin'] as const).map((kind) => (
          <Stat
            key={kind}
            label={`${KIND_LABEL[kind]} requeues (${windowLabel(overview.window_seconds)})`}
            value={recovery.requeued[kind].runs}
            tone="warn"
          />
        ))}
      </div>
      {recovery.recent_runs.length === 0 ? (
        <p class="empty">Recovery has not had to queue anything again.</p>
      ) : (
        <table class="plain runs" data-testid="recovery-runs">
          <thead>
            <tr>
              <th>When</th>
              <th>By</th>
              <th>Worker</th>
              <th class="num">Steps</th>
              <th class="num">Scopes</th>
            </tr>
          </thead>
          <tbody>
            {recovery.recent_runs.map((run) => (
              <tr key={`${run.kind}-${run.ran_at}`} data-run={run.kind}>
                <td class="nowrap">{ago(run.ran_at, now)}</td>
                <td>
                  <span class={`tag tag-${run.kind}`}>{KIND_LABEL[run.kind]}</span>
                </td>
                <td class="muted">{run.worker_id ? <code>{run.worker_id}</code> : '–'}</td>
                <td class="num">{run.steps}</td>
                <td class="num">{run.scopes}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export const windowLabel = (seconds: number): string =>
  seconds % 3600 === 0 ? `${seconds / 3600} h` : `${Math.round(seconds / 60)} min`;
