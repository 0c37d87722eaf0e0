import type { Overview } from '../api';
import { windowLabel } from './stats';

/** Model calls that ended in the window, by model: error rate and codes. */
export function UpstreamCard({ overview }: { overview: Overview }) {
  return (
    <section class="card">
      <h2>
        Upstream model calls{' '}
        <span class="note">ended in the last {windowLabel(overview.window_seconds)}</span>
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
          {overview.upstream.map((row) => (
            <tr key={row.model}>
              <td>{row.model}</td>
              <td class="num">{row.calls}</td>
              <td class="num">{row.failed}</td>
              <td>
                <div class="inflight">
                  <span
                    class={`meter ${row.error_rate > 0.1 ? 'meter-bad' : row.error_rate > 0 ? 'meter-warn' : ''}`}
                  >
                    <span
                      style={{
                        width: `${Math.max(row.error_rate * 100, row.error_rate > 0 ? 2 : 0)}%`,
                      }}
                    />
                  </span>
                  {(row.error_rate * 100).toFixed(1)}%
                </div>
              </td>
              <td class="num">{row.retried}</td>
              <td>
                {Object.entries(row.errors_by_code).map(([code, n]) => (
                  <span key={code} class="tag tag-error">
                    {code} × {n}
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {overview.upstream.length === 0 && <p class="empty">No model calls in this window.</p>}
    </section>
  );
}
