import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, type ResponseSummary, type ResponseSummaryPage } from './api';
import { ago, duration, isLive, shortId, STATUSES, statusLabel, tokens } from './format';
import { useEventStream, useFreshest, useNow, useThrottle } from './live';

const AGES: Record<string, { label: string; seconds: number | null }> = {
  '': { label: 'Any time', seconds: null },
  '15m': { label: 'Last 15 min', seconds: 15 * 60 },
  '1h': { label: 'Last hour', seconds: 3600 },
  '24h': { label: 'Last 24 h', seconds: 86_400 },
  '7d': { label: 'Last 7 days', seconds: 7 * 86_400 },
};

interface Filters {
  status: string[];
  model: string;
  age: string;
  api_key: string;
  metadata: string;
}

function filtersOf(query: URLSearchParams): Filters {
  return {
    status: (query.get('status') ?? '').split(',').filter(Boolean),
    model: query.get('model') ?? '',
    age: query.get('age') ?? '',
    api_key: query.get('api_key') ?? '',
    metadata: query.get('metadata') ?? '',
  };
}

function setFilters(filters: Filters): void {
  const query = new URLSearchParams();
  if (filters.status.length) query.set('status', filters.status.join(','));
  for (const name of ['model', 'age', 'api_key', 'metadata'] as const) {
    if (filters[name]) query.set(name, filters[name]);
  }
  const text = query.toString();
  location.hash = text ? `#/?${text}` : '#/';
}

/** The list endpoint's query for these filters and page. */
function listPath(filters: Filters, cursor: string | null): string {
  const query = new URLSearchParams({ limit: '20' });
  if (filters.status.length) query.set('status', filters.status.join(','));
  if (filters.model) query.set('model', filters.model);
  const age = AGES[filters.age]?.seconds;
  if (age) query.set('created_after', String(Math.floor(Date.now() / 1000) - age));
  if (filters.api_key) query.set('api_key', filters.api_key);
  for (const pair of filters.metadata.split(/\s*,\s*/).filter(Boolean))
    query.append('metadata', pair);
  if (cursor) query.set('after', cursor);
  return `/v1/console/responses?${query.toString()}`;
}

function StatusPill({ status }: { status: string }) {
  return (
    <span class={`pill pill-${status}`} data-status={status}>
      <span class="dot" />
      {statusLabel(status)}
    </span>
  );
}
export { StatusPill };

function KeyFilter({
  apiKey,
  value,
  onChange,
}: {
  apiKey: string;
  value: string;
  onChange: (v: string) => void;
}) {
  const [keys, setKeys] = useState<{ id: string; name: string; prefix: string }[]>([]);
  useEffect(() => {
    getJson<{ data: { id: string; name: string; prefix: string }[] }>(apiKey, '/v1/console/keys')
      .then((answer) => setKeys(answer.data))
      .catch(() => setKeys([]));
  }, [apiKey]);
  return (
    <label class="field">
      <span>API key</span>
      <select
        name="api_key"
        value={value}
        onChange={(event) => onChange(event.currentTarget.value)}
      >
        <option value="">All keys</option>
        {keys.map((key) => (
          <option key={key.id} value={key.id}>
            {key.name} · {key.id}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ListView({
  apiKey,
  admin,
  query,
}: {
  apiKey: string;
  admin: boolean;
  query: URLSearchParams;
}) {
  const filters = filtersOf(query);
  const filterKey = query.toString();
  const [cursors, setCursors] = useState<string[]>([]);
  const [page, setPage] = useState<ResponseSummaryPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [model, setModel] = useState(filters.model);
  const [metadata, setMetadata] = useState(filters.metadata);
  const now = useNow(5000);
  const cursor = cursors.at(-1) ?? null;

  const read = useFreshest<ResponseSummaryPage>(
    (answer) => {
      setPage(answer);
      setError(null);
    },
    (failure) => setError(failure instanceof ApiError ? failure.message : String(failure)),
  );
  const load = (): void => read(getJson<ResponseSummaryPage>(apiKey, listPath(filters, cursor)));
  const reload = useThrottle(load, 400);

  useEffect(() => {
    setModel(filters.model);
    setMetadata(filters.metadata);
    setCursors([]);
  }, [filterKey]);
  useEffect(load, [filterKey, cursor, apiKey]);

  const live = useEventStream(apiKey, '/v1/console/changes', (message) => {
    if (message.event === 'ready') return reload();
    if (message.event !== 'changes') return;
    if (cursor === null) return reload();
    // An older page keeps its rows; those shown take their new status.
    const changed = (
      JSON.parse(message.data) as { data: { id: string; status: ResponseSummary['status'] }[] }
    ).data;
    setPage(
      (current) =>
        current && {
          ...current,
          data: current.data.map((row) => {
            const change = changed.find((item) => item.id === row.id);
            return change ? { ...row, status: change.status } : row;
          }),
        },
    );
  });

  const toggleStatus = (status: string): void =>
    setFilters({
      ...filters,
      status: filters.status.includes(status)
        ? filters.status.filter((s) => s !== status)
        : [...filters.status, status],
    });

  return (
    <main class="page">
      <div class="page-head">
        <h1>Responses</h1>
        <span class={`live live-${live}`} data-testid="live-state">
          <span class="dot" />
          {live === 'live' ? 'Live' : live === 'connecting' ? 'Connecting' : 'Reconnecting'}
        </span>
      </div>
      <section class="filters card">
        <div class="chips" role="group" aria-label="Status">
          {STATUSES.map((status) => (
            <button
              key={status}
              type="button"
              class={`chip chip-${status} ${filters.status.includes(status) ? 'on' : ''}`}
              aria-pressed={filters.status.includes(status)}
              onClick={() => toggleStatus(status)}
            >
              <span class="dot" />
              {statusLabel(status)}
            </button>
          ))}
        </div>
        <form
          class="filter-fields"
          onSubmit={(event) => {
            event.preventDefault();
            setFilters({ ...filters, model: model.trim(), metadata: metadata.trim() });
          }}
        >
          <label class="field">
            <span>Model</span>
            <input
              name="model"
              placeholder="any"
              value={model}
              onInput={(e) => setModel(e.currentTarget.value)}
            />
          </label>
          <label class="field">
            <span>Created</span>
            <select
              name="age"
              value={filters.age}
              onChange={(e) => setFilters({ ...filters, age: e.currentTarget.value })}
            >
              {Object.entries(AGES).map(([value, age]) => (
                <option key={value} value={value}>
                  {age.label}
                </option>
              ))}
            </select>
          </label>
          {admin && (
            <KeyFilter
              apiKey={apiKey}
              value={filters.api_key}
              onChange={(v) => setFilters({ ...filters, api_key: v })}
            />
          )}
          <label class="field field-wide">
            <span>Metadata</span>
            <input
              name="metadata"
              placeholder="key=value, key=value"
              value={metadata}
              onInput={(e) => setMetadata(e.currentTarget.value)}
            />
          </label>
          <button class="secondary" type="submit">
            Apply
          </button>
        </form>
      </section>
      {error && <p class="banner banner-error">{error}</p>}
      <section class="card table-card">
        <table class="responses" data-testid="responses">
          <thead>
            <tr>
              <th>Status</th>
              <th>Response</th>
              <th>Model</th>
              {admin && <th>API key</th>}
              <th>Metadata</th>
              <th class="num">Steps</th>
              <th class="num">Tokens</th>
              <th class="num">Duration</th>
              <th class="num">Created</th>
            </tr>
          </thead>
          <tbody>
            {page?.data.map((row) => (
              <tr
                key={row.id}
                data-id={row.id}
                onClick={() => (location.hash = `#/responses/${row.id}`)}
              >
                <td>
                  <StatusPill status={row.status} />
                </td>
                <td>
                  <a class="mono" href={`#/responses/${row.id}`} title={row.id}>
                    {shortId(row.id, 12)}
                  </a>
                  <span class="tags">
                    {row.background && <span class="tag">background</span>}
                    {row.stream && <span class="tag">stream</span>}
                    {row.error_code && <span class="tag tag-error">{row.error_code}</span>}
                  </span>
                </td>
                <td class="nowrap">{row.model}</td>
                {admin && (
                  <td>
                    <span class="key-name">{row.api_key.name}</span>
                    <span class="muted mono small" title={row.api_key.id}>
                      {shortId(row.api_key.id, 10)}
                    </span>
                  </td>
                )}
                <td>
                  {Object.entries(row.metadata).map(([k, v]) => (
                    <span key={k} class="meta">
                      {k}=<b>{v}</b>
                    </span>
                  ))}
                </td>
                <td class="num">{row.step_count}</td>
                <td class="num">{tokens(row.usage?.total_tokens)}</td>
                <td class="num">
                  {row.started_at
                    ? duration(
                        (row.completed_at
                          ? new Date(row.completed_at).getTime()
                          : isLive(row.status)
                            ? Math.max(now, Date.now())
                            : NaN) - new Date(row.started_at).getTime(),
                      )
                    : '–'}
                </td>
                <td class="num" title={row.created_at}>
                  {ago(row.created_at, now)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && page.data.length === 0 && <p class="empty">No responses match these filters.</p>}
        <div class="pager">
          <button
            class="secondary"
            disabled={cursors.length === 0}
            onClick={() => setCursors(cursors.slice(0, -1))}
          >
            ← Newer
          </button>
          <span class="muted">Page {cursors.length + 1}</span>
          <button
            class="secondary"
            disabled={!page?.has_more}
            onClick={() => page?.next_cursor && setCursors([...cursors, page.next_cursor])}
          >
            Older →
          </button>
        </div>
      </section>
    </main>
  );
}
