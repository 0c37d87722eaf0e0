import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, getJson, postJson, type ResponseDetail, type StepDetail } from './api';
import { useResponseEvents } from './events';
import { clock, duration, isLive, pretty, shortId, tokens } from './format';
import { StatusPill } from './list';
import { useFreshest, useNow, useThrottle } from './live';
import { treeRows } from './tree-rows';
import { stepTitle, Waterfall } from './waterfall';

type Usage = NonNullable<StepDetail['usage']>;

function sumUsage(steps: readonly StepDetail[]): { input: number; output: number; total: number } {
  const sum = { input: 0, output: 0, total: 0 };
  for (const usage of steps.map((step) => step.usage).filter((u): u is Usage => u !== null)) {
    sum.input += usage.input_tokens;
    sum.output += usage.output_tokens;
    sum.total += usage.total_tokens;
  }
  return sum;
}

function outputText(detail: ResponseDetail): string {
  const parts: string[] = [];
  for (const item of detail.response.output as {
    type: string;
    content?: { type: string; text?: string }[];
  }[]) {
    if (item.type !== 'message') continue;
    for (const part of item.content ?? [])
      if (part.type === 'output_text' && part.text) parts.push(part.text);
  }
  return parts.join('\n');
}

function Field({ label, children }: { label: string; children: preact.ComponentChildren }) {
  return (
    <div class="kv">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Inspector({ detail, step }: { detail: ResponseDetail; step: StepDetail }) {
  const scope = detail.scopes.find((s) => s.id === step.scope_id);
  const since = (iso: string | null): string =>
    iso
      ? `${clock(iso)}  +${duration(new Date(iso).getTime() - new Date(detail.summary.created_at).getTime())}`
      : '–';
  const modelInput =
    step.kind === 'model_call' && scope
      ? `${scope.input.length} input item${scope.input.length === 1 ? '' : 's'} of the scope` +
        (step.round > 0 ? `, then the calls and outputs of rounds 0–${step.round - 1}` : '')
      : null;
  return (
    <aside class="card inspector" data-testid="inspector">
      <div class="inspector-head">
        <span class={`kind kind-${step.kind}`}>
          {step.kind === 'model_call' ? 'M' : step.kind === 'tool_call' ? 'T' : 'A'}
        </span>
        <h3>{stepTitle(step)}</h3>
        <StatusPill status={step.status} />
      </div>
      <dl class="kvs">
        <Field label="Step">
          <code>{step.id}</code>
        </Field>
        <Field label="Place">
          depth {scope?.depth ?? 0} · round {step.round} · #{step.index}
        </Field>
        {step.call_id && (
          <Field label="Call id">
            <code>{step.call_id}</code>
          </Field>
        )}
        <Field label="Attempts">{step.attempt}</Field>
        <Field label="Worker">{step.executed_by ? <code>{step.executed_by}</code> : '–'}</Field>
        {step.lease_owner && (
          <Field label="Lease">
            <code>{step.lease_owner}</code> until {clock(step.lease_expires_at)}
          </Field>
        )}
        <Field label="Recorded">{since(step.created_at)}</Field>
        <Field label="Dispatched">{since(step.dispatched_at)}</Field>
        <Field label="Started">{since(step.started_at)}</Field>
        <Field label="Ended">{since(step.completed_at)}</Field>
        {step.usage && (
          <Field label="Usage">
            {step.usage.input_tokens} in · {step.usage.output_tokens} out ·{' '}
            {step.usage.total_tokens} total
            {step.usage.estimated ? ' (estimated)' : ''}
          </Field>
        )}
        {step.backoff && (
          <Field label="Backoff">
            until {clock(step.backoff.until)} after attempt {step.backoff.attempt}:{' '}
            {step.backoff.code}
          </Field>
        )}
      </dl>
      {step.error && (
        <div class="banner banner-error">
          <b>{step.error.code}</b> {step.error.message}
        </div>
      )}
      <h4>Request</h4>
      {step.arguments !== null ? (
        <pre class="code">{pretty(step.arguments)}</pre>
      ) : (
        <p class="muted">{modelInput ?? '–'}</p>
      )}
      {step.kind === 'model_call' && scope?.instructions && (
        <p class="muted small">
          Instructions: <i>{scope.instructions}</i>
        </p>
      )}
      <h4>Result</h4>
      {step.result !== null ? (
        <pre class="code">{pretty(step.result)}</pre>
      ) : (
        <p class="muted">{isLive(step.status) ? 'not yet' : '–'}</p>
      )}
    </aside>
  );
}

export function DetailView({ apiKey, id }: { apiKey: string; id: string }) {
  const [detail, setDetail] = useState<ResponseDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [cancelling, setCancelling] = useState(false);
  const live = detail ? isLive(detail.summary.status) : true;
  const now = useNow(250, live);

  const read = useFreshest<ResponseDetail>(
    (answer) => {
      setDetail(answer);
      setError(null);
    },
    (failure) => setError(failure instanceof ApiError ? failure.message : String(failure)),
  );
  const load = (): void => read(getJson<ResponseDetail>(apiKey, `/v1/console/responses/${id}`));
  const reload = useThrottle(load, 300);
  useEffect(load, [apiKey, id]);

  // Streamed responses refresh on their events; the others re-read while they run.
  const streamed = detail?.summary.stream === true;
  const stream = useResponseEvents(apiKey, id, streamed, reload);
  useEffect(() => {
    if (!detail || streamed || !live) return;
    const timer = setInterval(reload, 1000);
    return () => clearInterval(timer);
  }, [detail === null, streamed, live]);

  // The list follows new events unless the reader scrolled up from its end.
  const eventList = useRef<HTMLOListElement>(null);
  const following = useRef(true);
  const eventCount = stream.events.length;
  useEffect(() => {
    const list = eventList.current;
    if (list && following.current) list.scrollTop = list.scrollHeight;
  }, [eventCount, streamed]);

  const rows = useMemo(
    () => (detail ? treeRows(detail.scopes, detail.steps, collapsed) : []),
    [detail, collapsed],
  );

  if (error && !detail) {
    return (
      <main class="page">
        <a class="back" href="#/">
          ← Responses
        </a>
        <p class="banner banner-error" data-testid="detail-error">
          {error}
        </p>
      </main>
    );
  }
  if (!detail) return <div class="loading">Loading {id}…</div>;

  const { summary, response } = detail;
  const start = new Date(summary.created_at).getTime();
  const stepTimes = detail.steps
    .flatMap((s) => [s.completed_at, s.started_at])
    .filter((t): t is string => t !== null)
    .map((t) => new Date(t).getTime());
  const end = live
    ? now
    : Math.max(
        start + 1,
        summary.completed_at ? new Date(summary.completed_at).getTime() : start,
        ...stepTimes,
      );
  const treeUsage = sumUsage(detail.steps);
  const chosen = detail.steps.find((s) => s.id === selected) ?? detail.steps[0] ?? null;
  const text = outputText(detail);

  return (
    <main class="page">
      <a class="back" href="#/">
        ← Responses
      </a>
      <div class="detail-head">
        <div>
          <div class="title-line">
            <h1 class="mono" data-testid="response-id">
              {summary.id}
            </h1>
            <StatusPill status={summary.status} />
          </div>
          <div class="facts">
            <span>
              model <b>{summary.model}</b>
            </span>
            <span>
              key <b>{summary.api_key.name}</b>{' '}
              <code class="small muted" title={summary.api_key.id}>
                {shortId(summary.api_key.id, 10)}
              </code>
            </span>
            {summary.background && <span class="tag">background</span>}
            {summary.stream && <span class="tag">stream</span>}
            <span>created {clock(summary.created_at)}</span>
            <span>
              {summary.started_at
                ? duration(
                    (summary.completed_at ? new Date(summary.completed_at).getTime() : now) -
                      new Date(summary.started_at).getTime(),
                  )
                : 'not started'}
            </span>
            <span data-testid="tree-usage">
              <b>{tokens(response.usage?.total_tokens ?? treeUsage.total)}</b> tokens (
              {tokens(response.usage?.input_tokens ?? treeUsage.input)} in ·{' '}
              {tokens(response.usage?.output_tokens ?? treeUsage.output)} out) over{' '}
              {detail.steps.length} steps
            </span>
          </div>
        </div>
        {summary.background && live && (
          <button
            class="danger"
            disabled={cancelling}
            onClick={() => {
              setCancelling(true);
              postJson(apiKey, `/v1/responses/${id}/cancel`)
                .then(load)
                .catch((failure: unknown) =>
                  setError(failure instanceof ApiError ? failure.message : String(failure)),
                )
                .finally(() => setCancelling(false));
            }}
          >
            {cancelling ? 'Cancelling…' : 'Cancel response'}
          </button>
        )}
      </div>
      {error && <p class="banner banner-error">{error}</p>}
      {live && (
        <section class="waiting card" data-testid="waiting">
          <h2>Waiting for</h2>
          <ul>
            {detail.waiting_summary.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
          {detail.waiting_for.length > 0 && (
            <details>
              <summary>step by step</summary>
              <ul class="small">
                {detail.waiting_for.map((line) => (
                  <li key={line}>{line}</li>
                ))}
              </ul>
            </details>
          )}
        </section>
      )}
      {response.error && (
        <p class="banner banner-error">
          <b>{response.error.code}</b> {response.error.message}
        </p>
      )}
      <div class="detail-grid">
        <section class="card">
          <h2>Timeline</h2>
          {rows.length > 0 ? (
            <Waterfall
              rows={rows}
              start={start}
              end={end}
              now={now}
              selected={chosen?.id ?? null}
              onSelect={setSelected}
              collapsed={collapsed}
              onToggle={(stepId) => {
                const next = new Set(collapsed);
                if (next.has(stepId)) next.delete(stepId);
                else next.add(stepId);
                setCollapsed(next);
              }}
            />
          ) : (
            <p class="empty">No steps yet.</p>
          )}
        </section>
        {chosen && <Inspector detail={detail} step={chosen} />}
      </div>
      <div class="detail-grid detail-grid-even">
        <section class="card">
          <h2>Output</h2>
          {text ? (
            <pre class="output" data-testid="output-text">
              {text}
            </pre>
          ) : (
            <p class="muted">{live ? 'Nothing yet.' : 'No text output.'}</p>
          )}
        </section>
        <section class="card events" data-testid="events">
          <h2>
            Events
            {streamed && (
              <span class="note">
                {stream.done ? 'the stream ended' : 'live'}
                {stream.resumedFrom >= 0 ? ` · resumed after #${stream.resumedFrom}` : ''}
              </span>
            )}
          </h2>
          {streamed ? (
            <ol
              class="event-list"
              ref={eventList}
              onScroll={(event) => {
                const list = event.currentTarget;
                following.current = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
              }}
            >
              {stream.events.map((event) => (
                <li key={event.sequence} data-seq={event.sequence}>
                  <span class="seq">{event.sequence}</span>
                  <span class={`etype ${event.type.includes('delta') ? 'etype-delta' : ''}`}>
                    {event.type.replace(/^response\./, '')}
                  </span>
                  <span class="esum">{event.summary}</span>
                </li>
              ))}
            </ol>
          ) : (
            <p class="muted">
              This response was not created with stream: true, so it has no event log. Its steps
              above refresh while it runs.
            </p>
          )}
        </section>
      </div>
    </main>
  );
}
