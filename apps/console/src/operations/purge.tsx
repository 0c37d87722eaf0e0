import { useState } from 'preact/hooks';
import { ApiError, postJson, type PurgeResult } from '../api';
import { Samples } from './samples';

/**
 * Deletes ended responses older than a period, with everything recorded for them: a dry run
 * first shows how many and which, and only its confirmation deletes.
 */
export function PurgeCard({ apiKey, onDone }: { apiKey: string; onDone: () => void }) {
  const [olderThan, setOlderThan] = useState('30d');
  const [preview, setPreview] = useState<PurgeResult | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (dryRun: boolean) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const trimmed = olderThan.trim();
      const result = await postJson<PurgeResult>(apiKey, '/v1/admin/purge', {
        older_than: /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed,
        dry_run: dryRun,
      });
      if (dryRun) setPreview(result);
      else {
        setPreview(null);
        setDone(
          `Purged ${result.purged} ${result.purged === 1 ? 'response' : 'responses'}${result.has_more ? '; more remain, purge again' : ''}.`,
        );
      }
      onDone();
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" data-testid="purge">
      <h2>
        Purge <span class="note">ended responses, with their steps and events</span>
      </h2>
      <div class="filter-fields">
        <label class="field field-narrow">
          Ended more than
          <input
            name="older_than"
            placeholder="30d, 12h, 90m"
            value={olderThan}
            onInput={(event) => {
              setOlderThan(event.currentTarget.value);
              setPreview(null);
            }}
          />
        </label>
        <span class="muted small hint-inline">
          ago (a number of seconds, or 45s, 90m, 12h, 30d)
        </span>
      </div>
      <div class="action-bar">
        {preview ? (
          <div class="preview" data-testid="purge-preview">
            <div>
              <b data-testid="purge-count">
                {preview.purged}
                {preview.has_more ? '+' : ''}
              </b>{' '}
              {preview.purged === 1 ? 'response' : 'responses'} would be deleted
              {preview.purged > 0 && ': '}
              <Samples ids={preview.ids} total={preview.purged} />
            </div>
            <div class="buttons">
              <button class="ghost" onClick={() => setPreview(null)}>
                Back
              </button>
              <button
                class="danger"
                disabled={busy || preview.purged === 0}
                onClick={() => void run(false)}
              >
                Confirm purge ({preview.purged})
              </button>
            </div>
          </div>
        ) : (
          <div class="buttons">
            <button class="secondary" disabled={busy} onClick={() => void run(true)}>
              Preview purge
            </button>
          </div>
        )}
      </div>
      {done && (
        <p class="banner banner-ok" data-testid="purge-done">
          {done}
        </p>
      )}
      {error && (
        <p class="banner banner-error" data-testid="purge-error">
          {error}
        </p>
      )}
    </section>
  );
}
