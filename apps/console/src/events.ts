import { useEffect, useState } from 'preact/hooks';
import { readEvents, sleep } from './api';

/** One event of a response's stream, as the console lists it. */
export interface StreamEvent {
  sequence: number;
  type: string;
  summary: string;
}

interface Saved {
  cursor: number;
  events: StreamEvent[];
  done: boolean;
}

/** Events kept per response in the tab, so a reload shows them and resumes after the last. */
const KEPT = 300;
const itemName = (id: string): string => `ratchet.console.events.${id}`;

function load(id: string): Saved {
  try {
    const saved = JSON.parse(sessionStorage.getItem(itemName(id)) ?? 'null') as Saved | null;
    if (saved && Number.isInteger(saved.cursor)) return saved;
  } catch {
    // A damaged entry starts over.
  }
  return { cursor: -1, events: [], done: false };
}

function save(id: string, saved: Saved): void {
  try {
    sessionStorage.setItem(
      itemName(id),
      JSON.stringify({ ...saved, events: saved.events.slice(-KEPT) }),
    );
  } catch {
    // Storage full: the stream still shows, it just is not kept.
  }
}

const TERMINAL = new Set([
  'response.completed',
  'response.failed',
  'response.incomplete',
  'response.cancelled',
]);

function summarise(event: Record<string, unknown>): string {
  const item = event.item as
    { type?: string; name?: string; role?: string; status?: string } | undefined;
  const response = event.response as { status?: string } | undefined;
  if (typeof event.delta === 'string') return event.delta;
  if (item) return [item.type, item.name ?? item.role, item.status].filter(Boolean).join(' · ');
  if (response?.status) return response.status;
  if (typeof event.text === 'string') return event.text;
  if (typeof event.arguments === 'string') return event.arguments;
  return '';
}

/**
 * Follows GET /v1/responses/{id}?stream=true from the last event seen (`starting_after`),
 * reconnecting after a break, until the terminal event. `onEvent` runs for each new event.
 */
export function useResponseEvents(
  key: string,
  id: string,
  enabled: boolean,
  onEvent: () => void,
): { events: StreamEvent[]; done: boolean; resumedFrom: number } {
  const [state, setState] = useState<Saved>(() => load(id));
  const [resumedFrom] = useState(() => load(id).cursor);
  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    let saved = load(id);
    void (async () => {
      let wait = 500;
      while (!controller.signal.aborted && !saved.done) {
        try {
          await readEvents(
            key,
            saved.cursor < 0
              ? `/v1/responses/${id}?stream=true`
              : `/v1/responses/${id}?stream=true&starting_after=${saved.cursor}`,
            controller.signal,
            (message) => {
              if (message.data === '[DONE]') {
                saved = { ...saved, done: true };
              } else {
                const event = JSON.parse(message.data) as Record<string, unknown> & {
                  sequence_number: number;
                  type: string;
                };
                if (event.sequence_number <= saved.cursor) return;
                saved = {
                  cursor: event.sequence_number,
                  events: [
                    ...saved.events,
                    {
                      sequence: event.sequence_number,
                      type: event.type,
                      summary: summarise(event),
                    },
                  ].slice(-KEPT),
                  done: saved.done || TERMINAL.has(event.type),
                };
              }
              save(id, saved);
              setState(saved);
              onEvent();
            },
          );
          wait = 500;
        } catch {
          // Broken off: resume from the cursor below.
        }
        if (controller.signal.aborted || saved.done) return;
        await sleep(wait, controller.signal);
        wait = Math.min(wait * 2, 10_000);
      }
    })();
    return () => controller.abort();
  }, [key, id, enabled]);
  return { events: state.events, done: state.done, resumedFrom };
}
