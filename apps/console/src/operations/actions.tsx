import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, postJson, type ResponsesAction } from '../api';
import { Samples } from './samples';

type Action = 'requeue' | 'cancel';

interface Filter {
  status: '' | 'queued' | 'in_progress';
  model: string;
  owner: string;
  /** Created more than this many minutes ago. */
  olderThanMinutes: string;
  stuck: boolean;
}

const EMPTY: Filter = { status: '', model: '', owner: '', olderThanMinutes: '', stuck: true };

/** The body of POST /v1/admin/responses/{requeue,cancel} for a filter (the API refuses an empty one). */
function bodyOf(filter: Filter): Record<string, unknown> {
  const minutes = Number(filter.olderThanMinutes);
  return {
    ...(filter.status ? { status: [filter.status] } : {}),
    ...(filter.model.trim() ? { model: filter.model.trim() } : {}),
    ...(filter.owner ? { owner: filter.owner } : {}),
    ...(filter.olderThanMinutes && Number.isFinite(minutes)
      ? { created_before: new Date(Date.now() - minutes * 60_000).toISOString() }
      : {}),
    ...(filter.stuck ? { stuck: true } : {}),
  };
}

const VERB = { requeue: 'Requeue', cancel: 'Cancel' } as const;

function doneLine(result: ResponsesAction): string {
  const n = `${result.affected} ${result.affected === 1 ? 'response' : 'responses'}`;
  if (result.action === 'cancel') return `Cancelled ${n}.`;
  const { steps, scopes } = result.requeued ?? { steps: 0, scopes: 0 };
  return `Requeued ${n}: ${steps} step(s) and ${scopes} scope(s) queued again.`;
}

/**
 * Requeue or cancel the live responses a filter names: a dry run first shows how many and
 * which, and only its confirmation acts (with the same filter).
 */
export function FilterActionsCard({ apiKey, onDone }: { apiKey: string; onDone: () => void }) {
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const [keys, setKeys] = useState<{ id: string; name: string }[]>([]);
  const [preview, setPreview] = useState<{
    action: Action;
    body: Record<string, unknown>;
    result: ResponsesAction;
  } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    getJson<{ data: { id: string; name: string }[] }>(apiKey, '/v1/console/keys')
      .then((answer) => setKeys(answer.data))
      .catch(() => setKeys([]));
  }, [apiKey]);

  const set = (change: Partial<Filter>): void => {
    setFilter({ ...filter, ...change });
    setPreview(null);
  };
  const run = async (action: Action, body: Record<string, unknown>, dryRun: boolean) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const result = await postJson<ResponsesAction>(apiKey, `/v1/admin/responses/${action}`, {
        ...body,
        dry_run: dryRun,
      });
      if (dryRun) setPreview({ action, body, result });
      else {
        setPreview(null);
        setDone(doneLine(result));
      }
      onDone();
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" data-testid="filter-actions">
      <h2>
        Requeue or cancel <span class="note">live responses by filter, previewed first</span>
      </h2>
      <div class="filter-fields">
        <label class="field">
          Status
          <select
            name="status"
            value={filter.status}
            onChange={(event) => set({ status: event.currentTarget.value as Filter['status'] })}
          >
            <option value="">queued or in progress</option>
            <option value="queued">queued</option>
            <option value="in_progress">in progress</option>
          </select>
        </label>
        <label class="field">
          Model
          <input
            name="model"
            placeholder="any"
            value={filter.model}
            onInput={(event) => set({ model: event.currentTarget.value })}
          />
        </label>
        <label class="field">
          API key
          <select
            name="owner"
            value={filter.owner}
            onChange={(event) => set({ owner: event.currentTarget.value })}
          >
            <option value="">any key</option>
            {keys.map((key) => (
              <option key={key.id} value={key.id}>
                {key.name} ({key.id})
              </option>
            ))}
          </select>
        </label>
        <label class="field field-narrow">
          Older than (min)
          <input
            name="older_than_minutes"
            type="number"
            min="0"
            placeholder="any age"
            value={filter.olderThanMinutes}
            onInput={(event) => set({ olderThanMinutes: event.currentTarget.value })}
          />
        </label>
        <label class="check">
          <input
            type="checkbox"
            name="stuck"
            checked={filter.stuck}
            onChange={(event) => set({ stuck: event.currentTarget.checked })}
          />
          only stuck ones
        </label>
      </div>
      <div class="action-bar">
        {preview ? (
          <div class="preview" data-testid="preview">
            <div>
              <b data-testid="preview-count">{preview.result.affected}</b>{' '}
              {preview.result.affected === 1 ? 'response' : 'responses'} would be{' '}
              {preview.action === 'cancel' ? 'cancelled' : 'requeued'}
              {preview.result.affected > 0 && ': '}
              <Samples ids={preview.result.affected_ids} total={preview.result.affected} />
            </div>
            <div class="buttons">
              <button class="ghost" onClick={() => setPreview(null)}>
                Back
              </button>
              <button
                class={preview.action === 'cancel' ? 'danger' : 'primary'}
                disabled={busy || preview.result.affected === 0}
                onClick={() => void run(preview.action, preview.body, false)}
              >
                Confirm {preview.action} ({preview.result.affected})
              </button>
            </div>
          </div>
        ) : (
          <div class="buttons">
            {(['requeue', 'cancel'] as const).map((action) => (
              <button
                key={action}
                class="secondary"
                disabled={busy}
                onClick={() => void run(action, bodyOf(filter), true)}
              >
                Preview {VERB[action].toLowerCase()}
              </button>
            ))}
          </div>
        )}
      </div>
      {done && (
        <p class="banner banner-ok" data-testid="action-done">
          {done}
        </p>
      )}
      {error && (
        <p class="banner banner-error" data-testid="action-error">
          {error}
        </p>
      )}
    </section>
  );
}
