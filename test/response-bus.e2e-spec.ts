import { AppConfig } from '@ratchet/config';
import { ResponseBus, type ResponseNotice, type TerminalNotice } from '@ratchet/events';
import { REDIS_URL } from './support/ratchet';
import { testRedisPrefix } from './support/redis-prefix';

// The bus over a real Redis. Its publisher pipelines what one turn of the event loop sends
// (a batch of outcomes ends many responses at once): every notice must still arrive, each
// once, and a response's events in the order they were sent.

const NOTICES = 50;

let publisher: ResponseBus;
let subscriber: ResponseBus;

beforeAll(() => {
  const config = AppConfig.fromEnvironment({
    DATABASE_URL: 'postgresql://unused@127.0.0.1:1/unused',
    REDIS_URL,
    RATCHET_REDIS_PREFIX: testRedisPrefix('bus'),
  });
  publisher = new ResponseBus(config);
  subscriber = new ResponseBus(config);
});

afterAll(async () => {
  await publisher?.onModuleDestroy();
  await subscriber?.onModuleDestroy();
});

it('delivers every terminal notice published in one turn, each to its waiter', async () => {
  const ids = Array.from({ length: NOTICES }, (_, i) => `resp_bus_${i}`);
  const received = new Map<string, TerminalNotice[]>();
  const arrived = Promise.all(
    ids.map(
      (id) =>
        new Promise<void>((resolve) => {
          void subscriber.onTerminal(id, (notice) => {
            received.set(id, [...(received.get(id) ?? []), notice]);
            resolve();
          });
        }),
    ),
  );
  await subscriber.onTerminal('resp_bus_ready', () => undefined);
  await Promise.all(ids.map((id) => publisher.publish({ type: 'terminal', responseId: id })));
  await arrived;
  for (const id of ids) expect(received.get(id)).toEqual([{ type: 'terminal', responseId: id }]);
});

it("keeps a response's events in the order they were sent in one turn", async () => {
  const seen: number[] = [];
  const all = new Promise<void>((resolve) => {
    void subscriber
      .subscribe('resp_bus_events', (notice: ResponseNotice) => {
        if (notice.type !== 'events') return;
        seen.push(...notice.events.map((event) => event.sequence));
        if (seen.length === NOTICES) resolve();
      })
      .then(async () => {
        await Promise.all(
          Array.from({ length: NOTICES }, (_, sequence) =>
            publisher.publishEvents('resp_bus_events', [
              { sequence, type: 'response.output_text.delta', data: `{"n":${sequence}}` },
            ]),
          ),
        );
      });
  });
  await all;
  expect(seen).toEqual(Array.from({ length: NOTICES }, (_, sequence) => sequence));
});
