// A multi-turn exchange with the Vercel AI SDK against ratchet (RATCHET_URL, RATCHET_KEY), as
// an app would run it. Run by node itself: the AI SDK is ESM-only, and jest loads CommonJS.
//
// `stored` mode keeps the history on the client: each turn sends it whole, and the SDK (which
// stores responses by default) sends every earlier answer, reasoning and tool item as an
// item_reference. `conversation` mode (with CONVERSATION_ID) lets a ratchet conversation keep
// it: each turn sends only its new message. Prints one JSON line: each turn's answer, and the
// input item types of every request the SDK sent.
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, stepCountIs, tool } from 'ai';

const mode = process.argv[2];
const turns = JSON.parse(process.argv[3]);
const conversation = process.env.CONVERSATION_ID;

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
const getTime = tool({
  description: 'The time',
  inputSchema: jsonSchema({ type: 'object', properties: {} }),
  execute: async () => '12:00',
});

const answers = [];
const history = [];
for (const text of turns) {
  const message = { role: 'user', content: text };
  const result = await generateText({
    model: openai.responses('mock'),
    messages: mode === 'stored' ? [...history, message] : [message],
    tools: mode === 'stored' ? { get_time: getTime } : undefined,
    stopWhen: stepCountIs(5),
    providerOptions: conversation ? { openai: { conversation } } : undefined,
  });
  answers.push(result.text);
  history.push(message, ...result.response.messages);
}
console.log(JSON.stringify({ answers, requests }));
