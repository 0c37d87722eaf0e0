import type { LiveResponse } from '../api';
import { ago, shortId, statusLabel } from '../format';

const REASON_LABEL: Record<LiveResponse['reasons'][number]['reason'], string> = {
  worker_gone: 'worker gone',
  lease_expired: 'lease expired',
  backing_off: 'backing off',
  queued_too_long: 'queued too long',
  scope_not_advanced: 'scope not advanced',
};

function Reason({ reason, now }: { reason: LiveResponse['reasons'][number]; now: number }) {
  const when =
    reason.at === null
      ? ''
      : reason.reason === 'backing_off'
        ? ` until ${new Date(reason.at).toLocaleTimeString()}`
        : ` since ${ago(reason.at, now).replace(' ago', '')}`;
  return (
    <div class="reason" data-reason={reason.reason}>
      <span class={`tag tag-reason tag-${reason.reason}`}>{REASON_LABEL[reason.reason]}</span>
      <span class="muted small">
        {reason.step_id
          ? `step ${shortId(reason.step_id)}`
          : `scope ${shortId(reason.scope_id ?? '')}`}
        {reason.worker && (
          <>
            {' '}
            on <code>{reason.worker}</code>
          </>
        )}
        {when}
      </span>
    </div>
  );
}

/** Live responses that are not progressing, each with why, linking to its page. */
export function StuckCard({
  stuck,
  hasMore,
  now,
}: {
  stuck: LiveResponse[];
  hasMore: boolean;
  now: number;
}) {
  return (
    <section class="card" data-testid="stuck">
      <h2>
        Stuck responses{' '}
        <span class="note">
          {stuck.length === 0
            ? 'none'
            : `${stuck.length}${hasMore ? '+' : ''} not progressing (a wait counts after 30 s)`}
        </span>
      </h2>
      {stuck.length === 0 ? (
        <p class="empty">Every live response is progressing.</p>
      ) : (
        <table class="plain">
          <thead>
            <tr>
              <th>Response</th>
              <th>Status</th>
              <th>Model</th>
              <th>Created</th>
              <th>Waiting because</th>
            </tr>
          </thead>
          <tbody>
            {stuck.map((response) => (
              <tr key={response.id} data-stuck={response.id}>
                <td>
                  <a href={`#/responses/${response.id}`}>
                    <code>{shortId(response.id, 12)}</code>
                  </a>
                  <span class="muted small key-id">{response.owner_id}</span>
                </td>
                <td>
                  <span class={`pill pill-${response.status}`}>
                    <span class="dot" />
                    {statusLabel(response.status)}
                  </span>
                </td>
                <td>{response.model}</td>
                <td class="nowrap">{ago(response.created_at, now)}</td>
                <td>
                  {response.reasons.map((reason) => (
                    <Reason
                      key={`${reason.reason}-${reason.step_id ?? reason.scope_id}`}
                      reason={reason}
                      now={now}
                    />
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
