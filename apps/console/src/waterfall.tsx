import type { StepDetail } from './api';
import { clock, duration, tokens } from './format';
import type { Row } from './tree-rows';

/** Tick spacing that gives about six ticks over `span` milliseconds. */
function tickStep(span: number): number {
  const steps = [
    1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000,
    120_000, 300_000, 600_000, 1_800_000, 3_600_000,
  ];
  return steps.find((step) => span / step <= 7) ?? 3_600_000;
}

const KIND_ICON: Record<StepDetail['kind'], string> = {
  model_call: 'M',
  tool_call: 'T',
  agent_call: 'A',
};

export const stepTitle = (step: StepDetail): string =>
  step.kind === 'model_call' ? 'model call' : (step.name ?? step.kind);

interface WaterfallProps {
  rows: Row[];
  start: number;
  end: number;
  now: number;
  selected: string | null;
  onSelect: (id: string) => void;
  collapsed: ReadonlySet<string>;
  onToggle: (id: string) => void;
}

const ms = (iso: string | null): number | null => (iso ? new Date(iso).getTime() : null);

/**
 * Where a bar's label goes: after its end; near the right edge, inside a wide bar at its
 * end, or else before its start.
 */
function labelPlace(at: (t: number) => string, from: number, to: number): Record<string, string> {
  const start = parseFloat(at(from));
  const end = parseFloat(at(to));
  if (end < 84) return { left: `${end}%` };
  if (end - start > 12) return { right: `${100 - end}%`, color: 'white', fontWeight: '600' };
  return { right: `${100 - start}%` };
}

export function Waterfall({
  rows,
  start,
  end,
  now,
  selected,
  onSelect,
  collapsed,
  onToggle,
}: WaterfallProps) {
  const span = Math.max(end - start, 1);
  const at = (t: number): string => `${Math.min(100, Math.max(0, ((t - start) / span) * 100))}%`;
  const width = (from: number, to: number): string =>
    `${Math.max(0, ((Math.min(to, end) - from) / span) * 100)}%`;
  const tick = tickStep(span);
  const ticks: number[] = [];
  for (let t = 0; t <= span; t += tick) ticks.push(t);

  return (
    <div class="waterfall" data-testid="waterfall">
      <div class="wf-head">
        <div class="wf-label">Step</div>
        <div class="wf-track wf-axis">
          {ticks.map((t) => (
            <span
              key={t}
              class={`tick ${t / span > 0.9 ? 'tick-end' : ''}`}
              style={{ left: at(start + t) }}
            >
              {duration(t)}
            </span>
          ))}
        </div>
        <div class="wf-meta">Tokens</div>
      </div>
      {rows.map((row) => {
        if (row.type === 'round') {
          return (
            <div key={row.key} class="wf-row wf-round" style={{ '--depth': row.depth }}>
              <div class="wf-label">
                <span class="round-label">
                  {row.scope.depth > 0 ? 'sub-agent · ' : ''}round {row.round}
                </span>
              </div>
              <div class="wf-track">
                {ticks.map((t) => (
                  <span key={t} class="grid" style={{ left: at(start + t) }} />
                ))}
              </div>
              <div class="wf-meta" />
            </div>
          );
        }
        const step = row.step;
        const created = ms(step.created_at)!;
        const dispatched = ms(step.dispatched_at);
        const started = ms(step.started_at);
        const completed = ms(step.completed_at);
        const queuedUntil = dispatched ?? started ?? completed ?? now;
        const runEnd = completed ?? now;
        return (
          <div
            key={row.key}
            class={`wf-row wf-step ${selected === step.id ? 'selected' : ''}`}
            style={{ '--depth': row.depth }}
            data-step={step.id}
            data-kind={step.kind}
            data-status={step.status}
            onClick={() => onSelect(step.id)}
          >
            <div class="wf-label">
              {row.child ? (
                <button
                  class="toggle"
                  aria-label={collapsed.has(step.id) ? 'Expand sub-agent' : 'Collapse sub-agent'}
                  aria-expanded={!collapsed.has(step.id)}
                  onClick={(event) => {
                    event.stopPropagation();
                    onToggle(step.id);
                  }}
                >
                  {collapsed.has(step.id) ? '▸' : '▾'}
                </button>
              ) : (
                <span class="toggle-space" />
              )}
              <span class={`kind kind-${step.kind}`}>{KIND_ICON[step.kind]}</span>
              <span class="step-name">{stepTitle(step)}</span>
              {step.attempt > 1 && <span class="attempts">×{step.attempt}</span>}
            </div>
            <div class="wf-track">
              {ticks.map((t) => (
                <span key={t} class="grid" style={{ left: at(start + t) }} />
              ))}
              <span
                class="bar bar-queued"
                style={{ left: at(created), width: width(created, queuedUntil) }}
                title={`queued ${clock(step.created_at)}`}
              />
              {dispatched !== null && (
                <span
                  class="bar bar-waiting"
                  style={{
                    left: at(dispatched),
                    width: width(dispatched, started ?? completed ?? now),
                  }}
                  title={`dispatched ${clock(step.dispatched_at)}`}
                />
              )}
              {started !== null && (
                <span
                  class={`bar bar-run bar-${step.status}`}
                  style={{ left: at(started), width: width(started, runEnd) }}
                  title={`${step.status}: ${clock(step.started_at)} → ${clock(step.completed_at)}`}
                />
              )}
              <span class="bar-label" style={labelPlace(at, started ?? created, runEnd)}>
                {started !== null ? duration(runEnd - started) : step.status}
              </span>
            </div>
            <div class="wf-meta">{step.usage ? tokens(step.usage.total_tokens) : ''}</div>
          </div>
        );
      })}
      <div class="legend">
        <span>
          <i class="bar-queued" /> recorded, waiting for the queue
        </span>
        <span>
          <i class="bar-waiting" /> queued for a worker
        </span>
        <span>
          <i class="bar-completed" /> ran
        </span>
        <span>
          <i class="bar-running" /> running
        </span>
        <span>
          <i class="bar-failed" /> failed
        </span>
        <span>
          <i class="bar-cancelled" /> cancelled
        </span>
      </div>
    </div>
  );
}
