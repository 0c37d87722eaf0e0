// Scenarios of the Vercel AI SDK (`ai` + `@ai-sdk/openai`, unmodified) against ratchet
// (RATCHET_URL, RATCHET_KEY), as an app would write them. Run by node itself: the AI SDK is
// ESM-only and jest loads CommonJS. `node ai-sdk-client.mjs <scenario>` prints one JSON line
// with what the scenario saw: texts, tool runs, tool calls and results, and the input item
// types of every request the SDK sent.
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';

const requests = [];
const openai = createOpenAI({
  baseURL: `${process.env.RATCHET_URL}/v1`,
  apiKey: process.env.RATCHET_KEY,
  fetch: async (url, init) => {
    if (typeof init?.body === 'string') {
      const body = JSON.parse(init.body);
      requests.push((body.input ?? []).map((item) => item.type ?? `message:${item.role}`));
    }
    return fetch(url, init);
  },
});

/** Local tool runs, by tool name. */
const runs = {};
function counted(name, description, properties, answer) {
  return tool({
    description,
    inputSchema: jsonSchema({ type: 'object', properties, additionalProperties: false }),
    execute: async (input) => {
      runs[name] = (runs[name] ?? 0) + 1;
      return answer(input);
    },
  });
}

const lookupTime = counted(
  'lookup_time',
  'The time in a time zone',
  { tz: { type: 'string' } },
  () => '12:00',
);
// Named like ratchet's server-side tool: ratchet runs it, so this execute must never run.
const getWeather = counted(
  'get_weather',
  'Current weather for a city',
  { city: { type: 'string' } },
  () => 'the SDK ran it',
);

const call = (name, args) => `/call ${name} ${JSON.stringify(args)}`;

/** What a generateText/streamText result shows, the same for both. */
async function summary(result) {
  const steps = await result.steps;
  return {
    text: await result.text,
    // Every step's reasoning: a result's own reasoningText is its last step's.
    reasoningText: steps.map((step) => step.reasoningText ?? '').join('') || null,
    finishReason: await result.finishReason,
    steps: steps.length,
    toolCalls: steps.flatMap((step) =>
      step.toolCalls.map((c) => ({
        name: c.toolName,
        providerExecuted: c.providerExecuted ?? false,
      })),
    ),
    toolResults: steps.flatMap((step) =>
      step.toolResults.map((r) => ({ name: r.toolName, output: r.output })),
    ),
  };
}

const scenarios = {
  /** A client tool loop: the SDK runs its tool and ratchet answers from the result. */
  async clientTools() {
    return summary(
      await generateText({
        model: openai.responses('mock'),
        prompt: call('lookup_time', { tz: 'UTC' }),
        tools: { lookup_time: lookupTime },
        stopWhen: stepCountIs(5),
      }),
    );
  },

  async clientToolsStreamed() {
    return summary(
      streamText({
        model: openai.responses('mock'),
        prompt: call('lookup_time', { tz: 'UTC' }),
        tools: { lookup_time: lookupTime },
        stopWhen: stepCountIs(5),
      }),
    );
  },

  /** ratchet's own tool, run on the server: the SDK shows it and never runs it. */
  async serverTool() {
    return summary(
      await generateText({
        model: openai.responses('mock'),
        prompt: call('get_weather', { city: 'Paris' }),
        tools: { get_weather: getWeather },
        stopWhen: stepCountIs(5),
      }),
    );
  },

  async serverToolStreamed() {
    return summary(
      streamText({
        model: openai.responses('mock'),
        prompt: call('get_weather', { city: 'Paris' }),
        tools: { get_weather: getWeather },
        stopWhen: stepCountIs(5),
      }),
    );
  },

  /**
   * Turns carried by response.messages, with the SDK's default store: every earlier item,
   * server calls included, goes back as an item_reference.
   */
  async multiTurn() {
    const history = [];
    const texts = [];
    for (const prompt of [
      `${call('get_weather', { city: 'Oslo' })}\n${call('lookup_time', { tz: 'CET' })}`,
      'Thanks, and now?',
    ]) {
      history.push({ role: 'user', content: prompt });
      const result = await generateText({
        model: openai.responses('mock'),
        messages: history,
        tools: { get_weather: getWeather, lookup_time: lookupTime },
        stopWhen: stepCountIs(5),
      });
      texts.push(result.text);
      history.push(...result.response.messages);
    }
    return { texts };
  },

  /** Reasoning, read from the summary (all the AI SDK reads), over a tool loop. */
  async reasoning() {
    const options = {
      model: openai.responses('gpt-5-mock'),
      prompt: `/think Weighing the options.\n${call('lookup_time', { tz: 'UTC' })}`,
      tools: { lookup_time: lookupTime },
      stopWhen: stepCountIs(5),
      providerOptions: { openai: { reasoningSummary: 'auto' } },
    };
    return {
      generated: await summary(await generateText(options)),
      streamed: await summary(streamText(options)),
    };
  },
};

const name = process.argv[2];
if (!Object.hasOwn(scenarios, name)) {
  console.error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
const result = await scenarios[name]();
console.log(JSON.stringify({ ...result, runs, requests }));
