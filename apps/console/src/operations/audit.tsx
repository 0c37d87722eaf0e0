import type { AuditEntry } from '../api';
import { ago } from '../format';

/** Long values (key ids, lists of ids) cut to their start: the full text is the cell's title. */
const clip = (text: string): string => (text.length > 18 ? `${text.slice(0, 14)}…` : text);

/** The parameters of an action, as `key=value` pairs (dry_run is shown apart). */
function params(entry: AuditEntry): string {
  if (!entry.params || typeof entry.params !== 'object') return '';
  return Object.entries(entry.params as Record<string, unknown>)
    .filter(([key]) => key !== 'dry_run')
    .map(([key, value]) => `${key}=${clip(Array.isArray(value) ? value.join(',') : String(value))}`)
    .join(' ');
}

const VERBS: Record<string, string> = {
  requeue: 'requeued',
  cancel: 'cancelled',
  purge: 'purged',
};

function result(entry: AuditEntry): string {
  if (entry.action === 'drain') return 'drain requested';
  const what = `${entry.affected_count} ${entry.affected_count === 1 ? 'response' : 'responses'}`;
  const verb = VERBS[entry.action] ?? 'affected';
  return entry.dry_run ? `would have ${verb} ${what}` : `${verb} ${what}`;
}

/** Recent operator actions, newest first: who, what, when, what it did. */
export function AuditCard({ entries, now }: { entries: AuditEntry[]; now: number }) {
  return (
    <section class="card" data-testid="audit">
      <h2>
        Audit <span class="note">every operator action, dry runs too</span>
      </h2>
      {entries.length === 0 ? (
        <p class="empty">No operator action yet.</p>
      ) : (
        <table class="plain">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>Action</th>
              <th>Parameters</th>
              <th>Result</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((entry) => (
              <tr key={entry.id} data-audit={entry.action} data-dry-run={String(entry.dry_run)}>
                <td class="nowrap" title={entry.created_at}>
                  {ago(entry.created_at, now)}
                </td>
                <td>{entry.actor_name}</td>
                <td class="nowrap">
                  <span class={`tag tag-action-${entry.action}`}>{entry.action}</span>
                  {entry.dry_run && <span class="tag">dry run</span>}
                </td>
                <td title={JSON.stringify(entry.params)}>
                  <code class="params">{params(entry)}</code>
                </td>
                <td class="audit-result">{result(entry)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
