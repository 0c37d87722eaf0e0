import { useEffect, useState } from 'preact/hooks';
import {
  ApiError,
  getJson,
  postJson,
  type AuditEntry,
  type LiveResponse,
  type Overview,
} from './api';
import { ago } from './format';
import { useEventStream, useFreshest, useNow, useThrottle } from './live';
import { FilterActionsCard } from './operations/actions';
import { AuditCard } from './operations/audit';
import { PurgeCard } from './operations/purge';
import { BacklogCard, QueueCard, SweeperCard } from './operations/stats';
import { StuckCard } from './operations/stuck';
import { UpstreamCard } from './operations/upstream';
import { WorkersCard } from './operations/workers';

/** The window of the overview's rates and counts. */
const WINDOW_SECONDS = 3600;

/**
 * While anything is live (responses, a drain, a stuck response), queue depths and waits
 * change without notices: read again this often, and only while the tab is visible. An
 * idle deployment sends no notices and the view reads nothing.
 */
const BUSY_REFRESH_MS = 10_000;

interface OperationsData {
  overview: Overview;
  stuck: { data: LiveResponse[]; has_more: boolean };
  audit: { data: AuditEntry[] };
}

function isBusy({ overview, stuck }: OperationsData): boolean {
  const { by_status: byStatus } = overview.responses;
  // (Jobs belong to live responses; those left over once their response ended are dropped.)
  return (
    (byStatus.queued ?? 0) + (byStatus.in_progress ?? 0) > 0 ||
    stuck.data.length > 0 ||
    overview.workers.some(
      (worker) => worker.drain === 'drain_requested' || worker.drain === 'draining',
    )
  );
}

/** The operations view: admin keys only (the route is not offered to tenant keys). */
export function OperationsView({ apiKey }: { apiKey: string }) {
  const [data, setData] = useState<OperationsData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [visible, setVisible] = useState(() => document.visibilityState === 'visible');
  const now = useNow(5000, visible);
  const read = useFreshest<[Overview, OperationsData['stuck'], OperationsData['audit']]>(
    ([overview, stuck, audit]) => {
      setData({ overview, stuck, audit });
      setError(null);
    },
    (failure) => setError(failure instanceof ApiError ? failure.message : String(failure)),
  );
  const load = (): void =>
    read(
      Promise.all([
        getJson<Overview>(apiKey, `/v1/admin/overview?window_seconds=${WINDOW_SECONDS}`),
        getJson<OperationsData['stuck']>(apiKey, '/v1/admin/stuck?limit=10'),
        getJson<OperationsData['audit']>(apiKey, '/v1/admin/audit?limit=8'),
      ]),
    );
  const reload = useThrottle(load, 1000);
  useEffect(load, [apiKey]);
  useEffect(() => {
    const onVisibility = (): void => {
      const shown = document.visibilityState === 'visible';
      setVisible(shown);
      if (shown) reload();
    };
    document.addEventListener('visibilitychange', onVisibility);
    return () => document.removeEventListener('visibilitychange', onVisibility);
  }, []);
  const busy = data !== null && isBusy(data);
  useEffect(() => {
    if (!busy || !visible) return;
    const timer = setInterval(reload, BUSY_REFRESH_MS);
    return () => clearInterval(timer);
  }, [busy, visible]);
  // Responses created, started or ended, and workers changing their drain state.
  useEventStream(apiKey, '/v1/console/changes', (message) => {
    if (message.event === 'changes' || message.event === 'workers') reload();
  });

  if (!data) {
    return (
      <main class="page">
        {error ? <p class="banner banner-error">{error}</p> : <div class="loading">Loading…</div>}
      </main>
    );
  }
  const { overview, stuck, audit } = data;
  const drain = async (id: string): Promise<void> => {
    try {
      await postJson(apiKey, `/v1/admin/workers/${encodeURIComponent(id)}/drain`);
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    }
    load();
  };
  return (
    <main class="page" data-testid="operations">
      <div class="page-head">
        <h1>Operations</h1>
        <span class="muted small">updated {ago(overview.generated_at, now)}</span>
      </div>
      {error && <p class="banner banner-error">{error}</p>}
      <div class="ops-grid">
        <QueueCard overview={overview} />
        <BacklogCard overview={overview} />
      </div>
      <WorkersCard workers={overview.workers} now={now} onDrain={drain} />
      <StuckCard stuck={stuck.data} hasMore={stuck.has_more} now={now} />
      <div class="ops-grid">
        <FilterActionsCard apiKey={apiKey} onDone={load} />
        <PurgeCard apiKey={apiKey} onDone={load} />
      </div>
      <div class="ops-grid">
        <SweeperCard overview={overview} now={now} />
        <AuditCard entries={audit.data} now={now} />
      </div>
      <UpstreamCard overview={overview} />
    </main>
  );
}
