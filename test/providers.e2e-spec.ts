import type OpenAI from 'openai';
import { TestUpstream } from '../libs/providers/src/testing/upstream-server';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { checkSse, eventsFromSse } from './support/stream-checker';

// Multi-step tool loops through the engine, streamed, against upstreams speaking Anthropic's
// Messages API and OpenAI's Responses API: each turn streams from the upstream to the client,
// the tool's result goes back paired with the upstream's own call id, and usage adds up.

type Event = { type: string } & Record<string, unknown>;

let tools: FakeTools;
let anthropic: TestUpstream;
let responsesApi: TestUpstream;
let ratchet: TestRatchet;
let key: string;

beforeAll(async () => {
  tools = await startFakeTools();
  anthropic = await TestUpstream.start();
  responsesApi = await TestUpstream.start();
  ratchet = await startRatchet('providers', {
    configYaml: `
models:
  claude: { provider: anthropic, baseUrl: ${anthropic.baseUrl}, apiKey: test, upstreamModel: claude-test }
  responder: { provider: openai-responses, baseUrl: ${responsesApi.baseUrl}, apiKey: test, upstreamModel: gpt-test }
tools:
  echo: { type: http, url: ${tools.url}/echo, description: Echoes its arguments, parameters: { type: object } }
`,
  });
  key = await ratchet.newKey();
});

afterAll(async () => {
  await ratchet?.close();
  await anthropic?.close();
  await responsesApi?.close();
  await tools?.close();
});

/** Answers the upstream's requests in order with these SSE bodies. */
function script(upstream: TestUpstream, bodies: string[]): void {
  let next = 0;
  upstream.reset((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.end(bodies[next++] ?? '');
  });
}

async function streamed(model: string): Promise<{ events: Event[]; text: string }> {
  const response = await ratchet.request('/v1/responses', {
    method: 'POST',
    key,
    body: JSON.stringify({
      model,
      stream: true,
      input: 'Echo x, then answer.',
      tools: [{ type: 'function', name: 'echo' }],
    }),
  });
  const text = await response.text();
  return { text, events: eventsFromSse(text).events as Event[] };
}

function finalOf(events: Event[]): OpenAI.Responses.Response {
  const terminal = events[events.length - 1];
  expect(terminal.type).toBe('response.completed');
  return terminal.response as OpenAI.Responses.Response;
}

function deltas(events: Event[], type: string): string[] {
  return events.filter((event) => event.type === type).map((event) => event.delta as string);
}

// ---- Anthropic ----

function anthropicEvent(data: { type: string } & Record<string, unknown>): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function anthropicTurn(
  blocks: string[],
  stopReason: string,
  usage: { input: number; output: number },
): string {
  return [
    anthropicEvent({
      type: 'message_start',
      message: {
        id: 'msg_up',
        type: 'message',
        role: 'assistant',
        content: [],
        stop_reason: null,
        usage: { input_tokens: usage.input, output_tokens: 1 },
      },
    }),
    ...blocks,
    anthropicEvent({
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: usage.output },
    }),
    anthropicEvent({ type: 'message_stop' }),
  ].join('');
}

it('runs a streamed tool loop against an Anthropic upstream', async () => {
  script(anthropic, [
    anthropicTurn(
      [
        anthropicEvent({
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'tool_use', id: 'toolu_1', name: 'echo', input: {} },
        }),
        anthropicEvent({
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json: '{"say":' },
        }),
        anthropicEvent({
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json: '"x"}' },
        }),
        anthropicEvent({ type: 'content_block_stop', index: 0 }),
      ],
      'tool_use',
      { input: 30, output: 12 },
    ),
    anthropicTurn(
      [
        anthropicEvent({
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'text', text: '' },
        }),
        anthropicEvent({
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: 'It said ' },
        }),
        anthropicEvent({
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: 'x.' },
        }),
        anthropicEvent({ type: 'content_block_stop', index: 0 }),
      ],
      'end_turn',
      { input: 50, output: 4 },
    ),
  ]);
  const { text, events } = await streamed('claude');
  expect(checkSse(text)).toEqual([]);
  expect(deltas(events, 'response.mcp_call_arguments.delta')).toEqual(['{"say":', '"x"}']);
  expect(deltas(events, 'response.output_text.delta')).toEqual(['It said ', 'x.']);
  const final = finalOf(events);
  expect(final.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  expect(final.output[0]).toMatchObject({
    call_id: 'toolu_1',
    name: 'echo',
    output: '{"say":"x"}',
  });
  expect(final.usage).toMatchObject({ input_tokens: 80, output_tokens: 16 });

  // The second turn carried the tool result, paired with Anthropic's own tool_use id.
  const second = anthropic.received[1].body as { messages: { role: string; content: unknown }[] };
  expect(anthropic.received.every((request) => (request.body as { stream: boolean }).stream)).toBe(
    true,
  );
  expect(second.messages.slice(-2)).toEqual([
    {
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'echo', input: { say: 'x' } }],
    },
    {
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"say":"x"}' }],
    },
  ]);
});

// ---- OpenAI Responses ----

function responsesTranscript(events: [string, Record<string, unknown>][]): string {
  return events
    .map(([type, fields], sequence_number) => {
      const data = JSON.stringify({ type, sequence_number, ...fields });
      return `event: ${type}\ndata: ${data}\n\n`;
    })
    .join('');
}

function upstreamResponse(status: string, output: unknown[], usage: [number, number] | null) {
  return {
    id: 'resp_up',
    object: 'response',
    created_at: 1_700_000_000,
    status,
    error: null,
    incomplete_details: null,
    model: 'gpt-test',
    output,
    parallel_tool_calls: true,
    usage: usage && {
      input_tokens: usage[0],
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: usage[1],
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: usage[0] + usage[1],
    },
  };
}

it('runs a streamed tool loop against an OpenAI Responses upstream', async () => {
  const call = {
    id: 'fc_up',
    type: 'function_call',
    status: 'completed',
    call_id: 'call_up',
    name: 'echo',
    arguments: '{"say":"x"}',
  };
  const answer = {
    id: 'msg_up',
    type: 'message',
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text: 'It said x.', annotations: [], logprobs: [] }],
  };
  const at = { item_id: 'msg_up', output_index: 0, content_index: 0 };
  script(responsesApi, [
    responsesTranscript([
      ['response.created', { response: upstreamResponse('in_progress', [], null) }],
      [
        'response.output_item.added',
        { output_index: 0, item: { ...call, arguments: '', status: 'in_progress' } },
      ],
      [
        'response.function_call_arguments.delta',
        { item_id: 'fc_up', output_index: 0, delta: '{"say":' },
      ],
      [
        'response.function_call_arguments.delta',
        { item_id: 'fc_up', output_index: 0, delta: '"x"}' },
      ],
      [
        'response.function_call_arguments.done',
        { item_id: 'fc_up', output_index: 0, arguments: call.arguments },
      ],
      ['response.output_item.done', { output_index: 0, item: call }],
      ['response.completed', { response: upstreamResponse('completed', [call], [30, 12]) }],
    ]),
    responsesTranscript([
      ['response.created', { response: upstreamResponse('in_progress', [], null) }],
      [
        'response.output_item.added',
        { output_index: 0, item: { ...answer, content: [], status: 'in_progress' } },
      ],
      [
        'response.content_part.added',
        { ...at, part: { type: 'output_text', text: '', annotations: [] } },
      ],
      ['response.output_text.delta', { ...at, delta: 'It said ', logprobs: [] }],
      ['response.output_text.delta', { ...at, delta: 'x.', logprobs: [] }],
      ['response.output_text.done', { ...at, text: 'It said x.', logprobs: [] }],
      ['response.content_part.done', { ...at, part: answer.content[0] }],
      ['response.output_item.done', { output_index: 0, item: answer }],
      ['response.completed', { response: upstreamResponse('completed', [answer], [50, 4]) }],
    ]),
  ]);
  const { text, events } = await streamed('responder');
  expect(checkSse(text)).toEqual([]);
  expect(deltas(events, 'response.mcp_call_arguments.delta')).toEqual(['{"say":', '"x"}']);
  expect(deltas(events, 'response.output_text.delta')).toEqual(['It said ', 'x.']);
  const final = finalOf(events);
  expect(final.output.map((item) => item.type)).toEqual(['mcp_call', 'message']);
  expect(final.output[0]).toMatchObject({ call_id: 'call_up', output: '{"say":"x"}' });
  expect(final.usage).toMatchObject({ input_tokens: 80, output_tokens: 16 });

  // ratchet keeps the loop: the second turn sends the whole conversation, with the output
  // paired to the upstream's call id, and no previous_response_id.
  const second = responsesApi.received[1].body as {
    input: { type: string; call_id?: string }[];
    stream: boolean;
    previous_response_id?: string;
  };
  expect(second.stream).toBe(true);
  expect(second.previous_response_id).toBeUndefined();
  expect(second.input.slice(-2)).toMatchObject([
    { type: 'function_call', call_id: 'call_up' },
    { type: 'function_call_output', call_id: 'call_up', output: '{"say":"x"}' },
  ]);
});
