import {
  McpAllowList,
  type McpCallOutcome,
  type McpCallFailure,
  McpClients,
  type McpClientsOptions,
  type McpServer,
  type McpToolResult,
} from '@ratchet/mcp';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_TOOLS,
  type FakeMcp,
  type FakeMcpOptions,
  fixedTool,
  PDF_BASE64,
  PNG_1X1,
  startFakeMcp,
  WAV_BASE64,
} from './support/fake-mcp';
import { waitFor } from './support/wait';

// The MCP client library against a real MCP server (test/support/fake-mcp.ts, built with the
// same SDK) on 127.0.0.1: Streamable HTTP, the older HTTP+SSE transport, and servers that
// fail in every way the library classifies. No Postgres or Redis is involved.

const opened: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  while (opened.length > 0) await opened.pop()!.close();
});

async function fake(options: FakeMcpOptions = {}): Promise<FakeMcp> {
  const server = await startFakeMcp(options);
  opened.push(server);
  return server;
}

function pool(options: McpClientsOptions = {}): McpClients {
  const clients = new McpClients({ connectTimeoutMs: 5_000, callTimeoutMs: 5_000, ...options });
  // Closed before the servers (afterEach pops in reverse), as an app shuts down.
  opened.push(clients);
  return clients;
}

function expectOk(outcome: McpCallOutcome): McpToolResult {
  if (!outcome.ok) throw new Error(`expected a result, got ${JSON.stringify(outcome.failure)}`);
  return outcome.result;
}

function expectFailure(
  outcome: { ok: boolean; failure?: McpCallFailure },
  code: string,
): McpCallFailure {
  if (outcome.ok || !outcome.failure)
    throw new Error(`expected ${code}, got ${JSON.stringify(outcome)}`);
  expect(outcome.failure.code).toBe(code);
  return outcome.failure;
}

/** A plain HTTP server for the cases an MCP server cannot produce (silence, redirects). */
async function httpServer(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  opened.push({
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const allNames = DEFAULT_TOOLS.map((tool) => tool.definition.name);

describe('listing tools', () => {
  it('gathers every page with names, descriptions, schemas and annotations', async () => {
    const mcp = await fake({ pageSize: 2 });
    const outcome = await pool().listTools({ url: mcp.url });
    if (!outcome.ok) throw new Error(outcome.failure.message);
    expect(outcome.tools.map((tool) => tool.name)).toEqual(allNames);
    expect(outcome.tools[0]).toEqual({
      name: 'echo',
      description: 'Echoes the text back',
      inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
      annotations: { readOnlyHint: true },
    });
    expect(outcome.tools.find((tool) => tool.name === 'add')?.outputSchema).toEqual({
      type: 'object',
      properties: { sum: { type: 'number' } },
      required: ['sum'],
    });
    expect(mcp.listRequests()).toBe(Math.ceil(allNames.length / 2));
  });

  it('reuses the list within its TTL and lists again after it, or when asked to', async () => {
    const mcp = await fake();
    const clients = pool({ toolsTtlMs: 300 });
    await clients.listTools({ url: mcp.url });
    await clients.listTools({ url: mcp.url });
    expect(mcp.listRequests()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await clients.listTools({ url: mcp.url });
    expect(mcp.listRequests()).toBe(2);
    clients.invalidateTools({ url: mcp.url });
    await clients.listTools({ url: mcp.url });
    await clients.listTools({ url: mcp.url }, { refresh: true });
    expect(mcp.listRequests()).toBe(4);
  });

  it('lists again when the server says its tools changed', async () => {
    const mcp = await fake();
    const clients = pool({ toolsTtlMs: 3_600_000 });
    await clients.listTools({ url: mcp.url });
    await mcp.setTools([fixedTool('fresh')]);
    await waitFor(
      'the fresh listing',
      async () => {
        const outcome = await clients.listTools({ url: mcp.url });
        return outcome.ok && outcome.tools.length === 1 && outcome.tools[0].name === 'fresh';
      },
      5_000,
    );
    expect(mcp.listRequests()).toBe(2);
  });

  it('lists again over the older transport too when the tools change', async () => {
    const mcp = await fake({ transport: 'sse' });
    const clients = pool({ toolsTtlMs: 3_600_000 });
    await clients.listTools({ url: mcp.url });
    await mcp.setTools([fixedTool('fresh')]);
    await waitFor(
      'the fresh listing',
      async () => {
        const outcome = await clients.listTools({ url: mcp.url });
        return outcome.ok && outcome.tools.map((tool) => tool.name).join() === 'fresh';
      },
      5_000,
    );
  });

  it('shares one listing between callers asking at the same time', async () => {
    const mcp = await fake({ pageSize: 3 });
    const clients = pool();
    const outcomes = await Promise.all([1, 2, 3, 4].map(() => clients.listTools({ url: mcp.url })));
    expect(
      outcomes.every((outcome) => outcome.ok && outcome.tools.length === allNames.length),
    ).toBe(true);
    expect(mcp.listRequests()).toBe(Math.ceil(allNames.length / 3));
    expect(mcp.sessionCount()).toBe(1);
  });

  it('offers only the allowed tools, and refuses to call the others', async () => {
    const mcp = await fake();
    const clients = pool();
    const server: McpServer = { url: mcp.url, allowedTools: ['echo', 'add', 'not-on-the-server'] };
    const outcome = await clients.listTools(server);
    expect(outcome.ok && outcome.tools.map((tool) => tool.name)).toEqual(['echo', 'add']);
    expectFailure(await clients.callTool(server, { name: 'fail' }), 'mcp_tool_not_allowed');
    expect(mcp.calls).toEqual([]);
  });

  it('reports a server without tools/list as a protocol error', async () => {
    const mcp = await fake({ withoutListing: true });
    const failure = expectFailure(await pool().listTools({ url: mcp.url }), 'mcp_protocol_error');
    expect(failure).toMatchObject({ rpcCode: -32601, retryable: false });
    expect(failure.message).toContain('method not found');
  });

  it('stops waiting when its caller gives up, and the listing goes on for the others', async () => {
    const mcp = await fake();
    const clients = pool();
    const controller = new AbortController();
    const impatient = clients.listTools({ url: mcp.url }, { signal: controller.signal });
    const patient = clients.listTools({ url: mcp.url });
    controller.abort();
    expectFailure(await impatient, 'mcp_cancelled');
    expect((await patient).ok).toBe(true);
  });
});

describe('calling tools', () => {
  it('sends the arguments and the idempotency key, and maps text', async () => {
    const mcp = await fake();
    const result = expectOk(
      await pool().callTool(
        { url: mcp.url },
        { name: 'echo', arguments: '{"text":"hi"}', idempotencyKey: 'step_42' },
      ),
    );
    expect(result).toEqual({
      content: [{ type: 'text', text: 'hi' }],
      isError: false,
      parts: [{ type: 'input_text', text: 'hi' }],
      text: 'hi',
    });
    expect(mcp.calls).toHaveLength(1);
    expect(mcp.calls[0]).toMatchObject({
      name: 'echo',
      arguments: { text: 'hi' },
      meta: { 'ratchet/idempotency-key': 'step_42', progressToken: 'step_42' },
      cancelled: false,
    });
  });

  it('sends the same idempotency key on a retry, and a fresh request id', async () => {
    const mcp = await fake();
    const clients = pool();
    const call = { name: 'echo', arguments: { text: 'again' }, idempotencyKey: 'step_7' };
    expectOk(await clients.callTool({ url: mcp.url }, call));
    expectOk(await clients.callTool({ url: mcp.url }, call));
    expect(mcp.calls.map((received) => received.meta['ratchet/idempotency-key'])).toEqual([
      'step_7',
      'step_7',
    ]);
    expect(mcp.calls[0].requestId).not.toEqual(mcp.calls[1].requestId);
  });

  it('keeps progress tokens unique among concurrent calls with the same key', async () => {
    const mcp = await fake();
    const clients = pool();
    const call = { name: 'slow', arguments: { ms: 100 }, idempotencyKey: 'step_dup' };
    await Promise.all([
      clients.callTool({ url: mcp.url }, call),
      clients.callTool({ url: mcp.url }, call),
    ]);
    const tokens = mcp.calls.map((received) => received.meta.progressToken);
    expect(tokens.filter((token) => token === 'step_dup')).toHaveLength(1);
    expect(
      mcp.calls.every((received) => received.meta['ratchet/idempotency-key'] === 'step_dup'),
    ).toBe(true);
  });

  it('maps an image to input_image and marks it in the text', async () => {
    const mcp = await fake();
    const result = expectOk(await pool().callTool({ url: mcp.url }, { name: 'image' }));
    expect(result.parts).toEqual([
      { type: 'input_text', text: 'a 1x1 pixel' },
      { type: 'input_image', image_url: `data:image/png;base64,${PNG_1X1}`, detail: 'auto' },
    ]);
    expect(result.text).toBe('a 1x1 pixel\n[image: image/png, 70 bytes]');
    expect(result.text).not.toContain(PNG_1X1);
  });

  it('describes audio, which no model input takes', async () => {
    const mcp = await fake();
    const result = expectOk(await pool().callTool({ url: mcp.url }, { name: 'audio' }));
    expect(result.content).toEqual([{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }]);
    expect(result.parts).toEqual([{ type: 'input_text', text: '[audio: audio/wav, 16 bytes]' }]);
    expect(result.text).toBe('[audio: audio/wav, 16 bytes]');
  });

  it('maps embedded resources and resource links', async () => {
    const mcp = await fake();
    const result = expectOk(await pool().callTool({ url: mcp.url }, { name: 'resource' }));
    expect(result.parts).toEqual([
      {
        type: 'input_text',
        text: '[resource: file:///notes/readme.txt (text/plain)]\nhello from a resource',
      },
      {
        type: 'input_file',
        file_data: `data:application/pdf;base64,${PDF_BASE64}`,
        filename: 'report.pdf',
      },
      {
        type: 'input_text',
        text: '[resource: file:///bin/data.bin (application/octet-stream), 4 bytes]',
      },
      {
        type: 'input_text',
        text: '[resource link: big.csv <https://example.com/big.csv> (text/csv)] The full table',
      },
    ]);
    expect(result.text.split('\n')).toEqual([
      '[resource: file:///notes/readme.txt (text/plain)]',
      'hello from a resource',
      '[resource: file:///docs/report.pdf (application/pdf), 15 bytes]',
      '[resource: file:///bin/data.bin (application/octet-stream), 4 bytes]',
      '[resource link: big.csv <https://example.com/big.csv> (text/csv)] The full table',
    ]);
  });

  it('keeps structured output beside its text', async () => {
    const mcp = await fake();
    const clients = pool();
    // Listed first, so the SDK knows the tool's output schema and checks the answer against it.
    await clients.listTools({ url: mcp.url });
    const result = expectOk(
      await clients.callTool({ url: mcp.url }, { name: 'add', arguments: { a: 2, b: 3 } }),
    );
    expect(result.structuredContent).toEqual({ sum: 5 });
    expect(result.text).toBe('{"sum":5}');
  });

  it('returns a tool error as mcp_tool_error with the tool result', async () => {
    const mcp = await fake();
    const outcome = await pool().callTool({ url: mcp.url }, { name: 'fail' });
    const failure = expectFailure(outcome, 'mcp_tool_error');
    expect(failure).toEqual({
      code: 'mcp_tool_error',
      message: 'The tool "fail" reported an error: the tool failed on purpose',
      retryable: false,
    });
    expect(!outcome.ok && outcome.result).toMatchObject({
      isError: true,
      text: 'the tool failed on purpose',
    });
  });

  it('reports a tool that throws as a JSON-RPC protocol error', async () => {
    const mcp = await fake();
    const failure = expectFailure(
      await pool().callTool({ url: mcp.url }, { name: 'crash' }),
      'mcp_protocol_error',
    );
    expect(failure).toMatchObject({ rpcCode: -32603, retryable: false });
    expect(failure.message).toContain('the tool crashed');
  });

  it('reports an unknown tool as invalid params', async () => {
    const mcp = await fake();
    const failure = expectFailure(
      await pool().callTool({ url: mcp.url }, { name: 'nope' }),
      'mcp_protocol_error',
    );
    expect(failure.rpcCode).toBe(-32602);
  });

  it('refuses arguments that are not a JSON object without calling', async () => {
    const mcp = await fake();
    const clients = pool();
    expectFailure(
      await clients.callTool({ url: mcp.url }, { name: 'echo', arguments: '{"text":' }),
      'mcp_invalid_arguments',
    );
    expectFailure(
      await clients.callTool({ url: mcp.url }, { name: 'echo', arguments: '[1]' }),
      'mcp_invalid_arguments',
    );
    expect(mcp.httpRequests).toEqual([]);
  });

  it('discards an answer over the size cap, on both transports', async () => {
    for (const transport of ['streamable-http', 'sse'] as const) {
      const mcp = await fake({ transport });
      const clients = pool({ maxResultBytes: 10_000 });
      const failure = expectFailure(
        await clients.callTool({ url: mcp.url }, { name: 'big', arguments: { bytes: 50_000 } }),
        'mcp_result_too_large',
      );
      expect(failure.retryable).toBe(false);
      // The connection survives: the next call works.
      expectOk(
        await clients.callTool({ url: mcp.url }, { name: 'big', arguments: { bytes: 100 } }),
      );
    }
  });
});

describe('timeouts and cancellation', () => {
  it('times a slow call out and tells the server to stop', async () => {
    const mcp = await fake();
    const started = Date.now();
    const failure = expectFailure(
      await pool().callTool(
        { url: mcp.url },
        { name: 'slow', arguments: { ms: 10_000 }, timeoutMs: 300 },
      ),
      'mcp_timeout',
    );
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(failure).toMatchObject({ retryable: true });
    await waitFor('the call to be cancelled', () => mcp.calls[0]?.cancelled, 5_000);
    expect(mcp.calls[0].finished).toBe(true);
  });

  it('cancels a call when its signal aborts, and the server hears of it', async () => {
    const mcp = await fake();
    const controller = new AbortController();
    const outcome = pool().callTool({ url: mcp.url }, { name: 'slow', signal: controller.signal });
    await mcp.waitForCall((call) => call.name === 'slow');
    controller.abort(new Error('the response was cancelled'));
    expectFailure(await outcome, 'mcp_cancelled');
    await waitFor('the call to be cancelled', () => mcp.calls[0].cancelled, 5_000);
    expect(mcp.calls[0].cancelReason).toContain('the response was cancelled');
  });

  it('does not send a call whose signal already aborted', async () => {
    const mcp = await fake();
    const outcome = await pool().callTool(
      { url: mcp.url },
      { name: 'echo', signal: AbortSignal.abort() },
    );
    expectFailure(outcome, 'mcp_cancelled');
    expect(mcp.httpRequests).toEqual([]);
  });

  it('gives up connecting to a server that never answers', async () => {
    const silent = await httpServer(() => undefined);
    const started = Date.now();
    const failure = expectFailure(
      await pool({ connectTimeoutMs: 300 }).callTool(
        { url: `${silent.url}/mcp` },
        { name: 'echo' },
      ),
      'mcp_timeout',
    );
    expect(failure.message).toContain('within 300 ms');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('connections', () => {
  for (const transport of ['streamable-http', 'sse'] as const) {
    it(`shares one session per server and headers, and sends the headers on every request (${transport})`, async () => {
      const mcp = await fake({ transport, requireHeaders: { Authorization: 'Bearer one' } });
      const clients = pool();
      const server = { url: mcp.url, headers: { Authorization: 'Bearer one' } };
      expectOk(await clients.callTool(server, { name: 'echo', arguments: { text: 'a' } }));
      expectOk(await clients.callTool(server, { name: 'echo', arguments: { text: 'b' } }));
      expect(mcp.sessionCount()).toBe(1);
      expect(mcp.httpRequests.length).toBeGreaterThan(2);
      expect(
        mcp.httpRequests.every((request) => request.headers.authorization === 'Bearer one'),
      ).toBe(true);
    });
  }

  it('opens a session of its own for other headers', async () => {
    const mcp = await fake();
    const clients = pool();
    expectOk(
      await clients.callTool(
        { url: mcp.url, headers: { 'X-Tenant': 'a' } },
        { name: 'echo', arguments: { text: 'a' } },
      ),
    );
    expectOk(
      await clients.callTool(
        { url: mcp.url, headers: { 'x-tenant': 'b' } },
        { name: 'echo', arguments: { text: 'b' } },
      ),
    );
    expectOk(
      await clients.callTool(
        { url: mcp.url, headers: { 'x-tenant': 'a' } },
        { name: 'echo', arguments: { text: 'a' } },
      ),
    );
    expect(mcp.sessionCount()).toBe(2);
  });

  it('refuses headers it cannot send, or that the transport sets itself', async () => {
    const mcp = await fake();
    const clients = pool();
    const invalid: Array<Record<string, string>> = [
      { 'Mcp-Session-Id': 'someone-elses' },
      { 'bad name': 'x' },
      { Authorization: 'a\r\nInjected: 1' },
    ];
    for (const headers of invalid) {
      const failure = expectFailure(
        await clients.callTool({ url: mcp.url, headers }, { name: 'echo' }),
        'mcp_invalid_headers',
      );
      expect(failure.message).not.toContain('Injected');
    }
    expect(mcp.httpRequests).toEqual([]);
  });

  it('refuses wrong credentials as mcp_auth_error', async () => {
    const mcp = await fake({ requireHeaders: { Authorization: 'Bearer right' } });
    const failure = expectFailure(
      await pool().callTool(
        { url: mcp.url, headers: { Authorization: 'Bearer wrong' } },
        { name: 'echo' },
      ),
      'mcp_auth_error',
    );
    expect(failure).toMatchObject({ status: 401, retryable: false });
    expect(failure.message).toContain('missing or wrong Authorization');
    expect(failure.message).not.toContain('Bearer');
  });

  it('classifies HTTP errors: 403, 404, 5xx', async () => {
    const mcp = await fake();
    const clients = pool();
    mcp.respondWith(403);
    expect(
      expectFailure(await clients.callTool({ url: mcp.url }, { name: 'echo' }), 'mcp_auth_error')
        .status,
    ).toBe(403);
    mcp.respondWith(503);
    const unavailable = expectFailure(
      await clients.callTool({ url: mcp.url }, { name: 'echo' }),
      'mcp_http_error',
    );
    expect(unavailable).toMatchObject({ status: 503, retryable: true });
    mcp.respondWith(null);
    const missing = expectFailure(
      await clients.callTool({ url: mcp.url.replace('/mcp', '/nowhere') }, { name: 'echo' }),
      'mcp_not_found',
    );
    expect(missing.message).toContain('HTTP+SSE transport failed too');
    expectOk(
      await clients.callTool({ url: mcp.url }, { name: 'echo', arguments: { text: 'up again' } }),
    );
  });

  it('reports a server nobody listens on as unreachable', async () => {
    const mcp = await fake();
    await mcp.stop();
    const failure = expectFailure(
      await pool().callTool({ url: mcp.url }, { name: 'echo' }),
      'mcp_unreachable',
    );
    expect(failure).toMatchObject({ retryable: true });
    expect(failure.message).toContain('ECONNREFUSED');
  });

  it('falls back to HTTP+SSE for a server that only speaks it, or uses it when told to', async () => {
    const mcp = await fake({ transport: 'sse' });
    const clients = pool();
    const listed = await clients.listTools({ url: mcp.url });
    expect(listed.ok && listed.tools.length).toBe(allNames.length);
    expect(
      expectOk(
        await clients.callTool({ url: mcp.url }, { name: 'echo', arguments: { text: 'old' } }),
      ).text,
    ).toBe('old');
    expect(mcp.httpRequests[0]).toMatchObject({ method: 'POST', path: '/sse' });

    const forced = pool();
    expectOk(
      await forced.callTool(
        { url: mcp.url, transport: 'sse' },
        { name: 'echo', arguments: { text: 'x' } },
      ),
    );
    const streamableOnly = await pool().callTool(
      { url: mcp.url, transport: 'streamable-http' },
      { name: 'echo' },
    );
    expect(expectFailure(streamableOnly, 'mcp_http_error').status).toBe(405);
  });

  for (const variant of [
    { name: 'Streamable HTTP, streamed answers', options: {} },
    { name: 'Streamable HTTP, JSON answers', options: { jsonResponse: true } },
    { name: 'HTTP+SSE', options: { transport: 'sse' as const } },
  ]) {
    it(`reports a server that dies mid-call as mcp_connection_lost (${variant.name})`, async () => {
      const mcp = await fake(variant.options);
      const clients = pool();
      const started = Date.now();
      const outcome = clients.callTool(
        { url: mcp.url },
        { name: 'slow', arguments: { ms: 10_000 } },
      );
      await mcp.waitForCall((call) => call.name === 'slow');
      await mcp.stop();
      const failure = expectFailure(await outcome, 'mcp_connection_lost');
      expect(failure.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(3_000);
    });
  }

  for (const transport of ['streamable-http', 'sse'] as const) {
    it(`reconnects after the server restarts (${transport})`, async () => {
      const mcp = await fake({ transport });
      const clients = pool();
      expectOk(
        await clients.callTool({ url: mcp.url }, { name: 'echo', arguments: { text: 'before' } }),
      );
      await mcp.restart();
      const after = await clients.callTool(
        { url: mcp.url },
        { name: 'echo', arguments: { text: 'after' } },
      );
      expect(expectOk(after).text).toBe('after');
      expect(new Set(mcp.calls.map((call) => call.sessionId)).size).toBe(2);
    });
  }

  it('lists tools again after reconnecting, since change notices may have been missed', async () => {
    const mcp = await fake();
    const clients = pool({ toolsTtlMs: 3_600_000 });
    await clients.listTools({ url: mcp.url });
    await mcp.restart();
    await mcp.setTools([fixedTool('renamed')]);
    expectOk(await clients.callTool({ url: mcp.url }, { name: 'renamed' }));
    const outcome = await clients.listTools({ url: mcp.url });
    expect(outcome.ok && outcome.tools.map((tool) => tool.name)).toEqual(['renamed']);
  });

  it('ends its sessions on close', async () => {
    const mcp = await fake();
    const clients = new McpClients();
    expectOk(await clients.callTool({ url: mcp.url }, { name: 'echo', arguments: { text: 'x' } }));
    expect(mcp.sessionCount()).toBe(1);
    await clients.close();
    expect(mcp.sessionCount()).toBe(0);
    expect(mcp.httpRequests.at(-1)?.method).toBe('DELETE');
    expectFailure(await clients.callTool({ url: mcp.url }, { name: 'echo' }), 'mcp_unreachable');
  });
});

describe('servers named by a request', () => {
  it('refuses a URL off the allow-list before sending anything', async () => {
    const mcp = await fake();
    const allowList = McpAllowList.parse(['https://mcp.example.com/']);
    const failure = expectFailure(
      await pool().callTool({ url: mcp.url, allowList }, { name: 'echo' }),
      'mcp_url_refused',
    );
    expect(failure.message).toContain('not on the MCP server allow-list');
    expect(mcp.httpRequests).toEqual([]);
  });

  it('refuses loopback unless the allow-list names it', async () => {
    const mcp = await fake();
    const byHost = McpAllowList.parse(['127.0.0.1']);
    expectOk(
      await pool().callTool(
        { url: mcp.url, allowList: byHost },
        { name: 'echo', arguments: { text: 'ok' } },
      ),
    );
    // A host rule is no licence for loopback: *.localhost names hosts, not addresses.
    const byName = McpAllowList.parse(['*.localhost']);
    const failure = expectFailure(
      await pool().callTool(
        { url: `http://mcp.localhost:${mcp.port}/mcp`, allowList: byName },
        { name: 'echo' },
      ),
      'mcp_url_refused',
    );
    expect(failure.message).toContain('loopback');
    expect(mcp.calls).toHaveLength(1);
  });

  it('checks the addresses a name resolves to when connecting (DNS rebinding)', async () => {
    const mcp = await fake();
    const url = `http://mcp.test:${mcp.port}/mcp`;
    const resolve = (): Promise<string[]> => Promise.resolve(['127.0.0.1']);
    const unnamed = McpAllowList.parse(['mcp.test']);
    const failure = expectFailure(
      await pool({ resolve }).callTool({ url, allowList: unnamed }, { name: 'echo' }),
      'mcp_url_refused',
    );
    expect(failure.message).toContain('127.0.0.1 (for mcp.test) is a loopback address');
    expect(mcp.httpRequests).toEqual([]);

    const named = McpAllowList.parse([{ host: 'mcp.test', addresses: ['127.0.0.0/8'] }]);
    const result = expectOk(
      await pool({ resolve }).callTool(
        { url, allowList: named },
        { name: 'echo', arguments: { text: 'internal' } },
      ),
    );
    expect(result.text).toBe('internal');
  });

  it('reports a name that does not resolve as unreachable', async () => {
    const resolve = (): Promise<string[]> =>
      Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }));
    const allowList = McpAllowList.parse(['mcp.test']);
    const failure = expectFailure(
      await pool({ resolve }).callTool({ url: 'http://mcp.test/mcp', allowList }, { name: 'echo' }),
      'mcp_unreachable',
    );
    expect(failure.message).toContain('ENOTFOUND');
  });

  it('does not follow a redirect off the allowed prefix', async () => {
    const mcp = await fake();
    const redirector = await httpServer((request, response) => {
      response.writeHead(307, { location: `${redirectTarget}${request.url ?? ''}` }).end();
    });
    // Same origin, other path: the SDK would follow it; the allow-list does not allow it.
    let redirectTarget = `${redirector.url}/elsewhere`;
    const allowList = McpAllowList.parse([`${redirector.url}/mcp`]);
    const samePath = await pool().callTool(
      { url: `${redirector.url}/mcp`, allowList },
      { name: 'echo' },
    );
    expect(expectFailure(samePath, 'mcp_url_refused').message).toContain('/elsewhere');

    // Another origin (the real server): not followed at all, even for a trusted server.
    redirectTarget = `http://localhost:${mcp.port}`;
    const crossOrigin = await pool().callTool({ url: `${redirector.url}/mcp` }, { name: 'echo' });
    expect(expectFailure(crossOrigin, 'mcp_http_error')).toMatchObject({
      status: 307,
      retryable: false,
    });
    expect(mcp.httpRequests).toEqual([]);
  });
});
