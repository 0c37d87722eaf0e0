import type OpenAI from 'openai';
import { startFakeTools, type FakeTools } from './support/fake-tools';
import { startRatchet, type TestRatchet } from './support/ratchet';
import { waitFor } from './support/wait';

// Approval requests expire (approvals.expiresAfterMs): the sweeper refuses a request left
// unanswered, in a tree that still runs as in one that paused, and the model reads why.

let tools: FakeTools;
let ratchet: TestRatchet;
let client: OpenAI;

beforeAll(async () => {
  tools = await startFakeTools();
  ratchet = await startRatchet('approval_expiry', {
    env: { RATCHET_SWEEP_INTERVAL_MS: '100', RATCHET_SWEEP_GRACE_MS: '60000' },
    configYaml: `
models:
  mock: { provider: mock }
tools:
  asked:
    type: http
    url: ${tools.url}/echo
    approval: always
  nap:
    type: http
    url: ${tools.url}/sleep
approvals:
  expiresAfterMs: 800
`,
  });
  client = ratchet.client(await ratchet.newKey('expiry'));
});
afterAll(async () => {
  await ratchet?.close();
  await tools?.close();
});

const server = (name: string): OpenAI.Responses.FunctionTool => ({
  type: 'function',
  name,
  parameters: null,
  strict: null,
});
const callsOf = (...lines: [string, unknown][]): string =>
  lines.map(([name, args]) => `/call ${name} ${JSON.stringify(args)}`).join('\n');
const ran = (marker: string): number =>
  tools.calls.filter((call) => JSON.stringify(call.body).includes(marker)).length;

type Output = OpenAI.Responses.ResponseOutputItem;
const ofType = <T extends Output['type']>(output: Output[], type: T) =>
  output.filter((item): item is Extract<Output, { type: T }> => item.type === type);

interface StepView {
  status: string;
  approval: { decision: { approve: boolean; expired?: boolean; decided_by: null } | null } | null;
}
async function approvalSteps(id: string): Promise<StepView[]> {
  const answer = await ratchet.request(`/v1/responses/${id}/steps`);
  return ((await answer.json()) as { steps: StepView[] }).steps.filter((step) => step.approval);
}

it('refuses a request that expires while the rest of the tree still runs', async () => {
  const response = await client.responses.create({
    model: 'mock',
    input: callsOf(['asked', { marker: 'live-expiry' }], ['nap', { ms: 2500 }]),
    tools: [server('asked'), server('nap')],
  });
  expect(response.status).toBe('completed');
  expect(ofType(response.output, 'mcp_approval_request')).toEqual([]);
  const calls = ofType(response.output, 'mcp_call');
  expect(calls.map((call) => [call.name, call.status, call.error])).toEqual([
    [
      'asked',
      'failed',
      'approval_expired: The call was not run: nobody approved it before its approval request expired.',
    ],
    ['nap', 'completed', null],
  ]);
  expect(response.output_text).toContain('approval_expired');
  expect(ran('live-expiry')).toBe(0);
  const [step] = await approvalSteps(response.id);
  expect(step).toMatchObject({
    status: 'failed',
    approval: { decision: { approve: false, expired: true, decided_by: null } },
  });
});

it('records the expiry of a paused request, and the response that adopts it reads the refusal', async () => {
  const paused = await client.responses.create({
    model: 'mock',
    input: callsOf(['asked', { marker: 'paused-expiry' }]),
    tools: [server('asked')],
  });
  const [request] = ofType(paused.output, 'mcp_approval_request');
  expect(request).toBeDefined();
  await waitFor(
    'the sweeper to record the expiry',
    async () => {
      const [step] = await approvalSteps(paused.id);
      return step.approval?.decision ? step : null;
    },
    15_000,
    100,
  );

  // A late approval does not run it: the request had expired.
  const resumed = await client.responses.create({
    model: 'mock',
    previous_response_id: paused.id,
    input: [{ type: 'mcp_approval_response', approval_request_id: request.id, approve: true }],
  });
  expect(resumed.status).toBe('completed');
  const [call] = ofType(resumed.output, 'mcp_call');
  expect(call.status).toBe('failed');
  expect(call.error).toMatch(/^approval_expired: /);
  expect(ran('paused-expiry')).toBe(0);
});
