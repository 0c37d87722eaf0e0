import type { ResponseSummary } from './api';

export type Status = ResponseSummary['status'];

export const STATUSES: readonly Status[] = [
  'queued',
  'in_progress',
  'completed',
  'failed',
  'cancelled',
  'incomplete',
];

export const isLive = (status: string): boolean => status === 'queued' || status === 'in_progress';

export const statusLabel = (status: string): string => status.replace('_', ' ');

/** "850 ms", "4.2 s", "3 m 12 s", "2 h 5 m". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} m`;
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", then the date. */
export function ago(iso: string, now: number): string {
  const ms = now - new Date(iso).getTime();
  if (ms < 5_000) return 'just now';
  if (ms < 60_000) return `${Math.floor(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return new Date(iso).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** Wall-clock time with milliseconds, in the browser's zone. */
export function clock(iso: string | null): string {
  if (!iso) return '–';
  const date = new Date(iso);
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export const tokens = (n: number | undefined | null): string =>
  n === undefined || n === null ? '–' : n < 10_000 ? String(n) : `${(n / 1000).toFixed(1)}k`;

/** A short id for tight places: the prefix and the first characters. */
export const shortId = (id: string, keep = 8): string => {
  const underscore = id.indexOf('_');
  return underscore < 0
    ? id.slice(0, keep)
    : `${id.slice(0, underscore + 1)}${id.slice(underscore + 1, underscore + 1 + keep)}`;
};

/** JSON text pretty-printed when it is JSON, as it is otherwise. */
export function pretty(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}
