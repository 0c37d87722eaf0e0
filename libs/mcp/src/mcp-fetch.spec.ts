import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { checkMcpUrl, McpAllowList, type McpAllowRule, type McpResolver } from './mcp-allow-list';
import { McpUrlRefusedError } from './mcp-failures';
import { createMcpFetch, guardedAgent, RequestScope, requestScopes } from './mcp-fetch';

// The fetch under the MCP transports, against a real server on 127.0.0.1: redirects, the
// allow-list on every URL, the address guard in the socket's own DNS lookup, and the
// binding of an HTTP request to the MCP request it carries.

let server: Server;
let origin: string;
let paths: string[];
const agents: Agent[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    paths.push(request.url ?? '');
    request.resume();
    switch (request.url ?? '') {
      case '/redirect':
        response.writeHead(307, { location: '/target' }).end();
        return;
      case '/big':
        response.writeHead(200, { 'content-type': 'application/json' }).end('x'.repeat(5_000));
        return;
      case '/broken':
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write('event: message\n');
        setTimeout(() => response.destroy(), 20);
        return;
      default:
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

beforeEach(() => {
  paths = [];
});

afterAll(async () => {
  await Promise.all(agents.map((agent) => agent.destroy()));
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

function agent(): Agent {
  const created = new Agent();
  agents.push(created);
  return created;
}

const request = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'x' },
});
const notification = JSON.stringify({
  jsonrpc: '2.0',
  method: 'notifications/cancelled',
  params: {},
});

function scope(maxResponseBytes = 1_000, parent = new AbortController().signal): RequestScope {
  return new RequestScope(
    maxResponseBytes,
    { server: origin, action: 'calling the tool "x"' },
    parent,
  );
}

describe('redirects', () => {
  it('are returned, never followed by the fetch itself', async () => {
    const fetch = createMcpFetch({ dispatcher: agent() });
    const response = await fetch(`${origin}/redirect`, { redirect: 'follow' });
    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toBe('/target');
    expect(paths).toEqual(['/redirect']);
  });

  it('to a URL off the allow-list are refused before anything is sent', async () => {
    const refusals: string[] = [];
    const fetch = createMcpFetch({
      dispatcher: agent(),
      allowList: McpAllowList.parse([`${origin}/redirect`]),
      onRefused: (reason) => refusals.push(reason),
    });
    expect((await fetch(`${origin}/redirect`)).status).toBe(307);
    // The hop the SDK would make next, within the origin but outside the allowed prefix.
    await expect(fetch(`${origin}/target`)).rejects.toBeInstanceOf(McpUrlRefusedError);
    expect(refusals).toEqual([`${origin}/target is not on the MCP server allow-list`]);
    expect(paths).toEqual(['/redirect']);
  });
});

describe('the address guard', () => {
  const port = (): string => new URL(origin).port;
  const resolve: McpResolver = () => Promise.resolve(['127.0.0.1']);

  function guardedFetch(rules: McpAllowRule[]) {
    const allowList = McpAllowList.parse(rules);
    const check = checkMcpUrl(`http://mcp.test:${port()}/`, allowList);
    if (!check.ok) throw new Error(check.reason);
    const dispatcher = guardedAgent(check.addresses, resolve);
    agents.push(dispatcher);
    return createMcpFetch({ dispatcher, allowList });
  }

  it('refuses a name that resolves to an address the allow-list does not name', async () => {
    const fetch = guardedFetch(['mcp.test']);
    const failure: unknown = await fetch(`http://mcp.test:${port()}/`).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TypeError);
    const cause = (failure as Error).cause;
    expect(cause).toBeInstanceOf(McpUrlRefusedError);
    expect((cause as McpUrlRefusedError).reason).toBe(
      '127.0.0.1 (for mcp.test) is a loopback address, which the allow-list does not name',
    );
    expect(paths).toEqual([]);
  });

  it('connects to the address it checked when the allow-list names it', async () => {
    const fetch = guardedFetch([{ host: 'mcp.test', addresses: ['127.0.0.1'] }]);
    const response = await fetch(`http://mcp.test:${port()}/`);
    expect(await response.text()).toBe('ok');
  });
});

describe('request scopes', () => {
  it('cut a body off past the cap and fail the request as too large', async () => {
    const fetch = createMcpFetch({ dispatcher: agent() });
    const current = scope(1_000);
    const response = await requestScopes.run(current, () =>
      fetch(`${origin}/big`, { method: 'POST', body: request }),
    );
    await expect(response.text()).rejects.toThrow('over the size limit');
    expect(current.failure).toMatchObject({ code: 'mcp_result_too_large', retryable: false });
    expect(current.signal.aborted).toBe(true);
  });

  it('fail the request as lost when its body breaks', async () => {
    const fetch = createMcpFetch({ dispatcher: agent() });
    const current = scope();
    const response = await requestScopes.run(current, () =>
      fetch(`${origin}/broken`, { method: 'POST', body: request }),
    );
    await expect(response.text()).rejects.toThrow();
    expect(current.failure).toMatchObject({ code: 'mcp_connection_lost', retryable: true });
  });

  it('say nothing once their request has its answer', async () => {
    const fetch = createMcpFetch({ dispatcher: agent() });
    const current = scope();
    const response = await requestScopes.run(current, () =>
      fetch(`${origin}/broken`, { method: 'POST', body: request }),
    );
    current.finish();
    await expect(response.text()).rejects.toThrow();
    expect(current.failure).toBeNull();
  });

  it('abort the HTTP request of an aborted MCP request, but not its notifications', async () => {
    const fetch = createMcpFetch({ dispatcher: agent() });
    const current = scope(1_000, AbortSignal.abort(new Error('cancelled by the caller')));
    await expect(
      requestScopes.run(current, () => fetch(`${origin}/ok`, { method: 'POST', body: request })),
    ).rejects.toThrow('cancelled by the caller');
    // notifications/cancelled goes out from inside the same scope, and must get through.
    const sent = await requestScopes.run(current, () =>
      fetch(`${origin}/notification`, { method: 'POST', body: notification }),
    );
    expect(sent.status).toBe(200);
    expect(paths).toEqual(['/notification']);
  });

  it('leave bodies alone outside a scope', async () => {
    const fetch = createMcpFetch({ dispatcher: agent() });
    const response = await fetch(`${origin}/big`, { method: 'POST', body: request });
    expect((await response.text()).length).toBe(5_000);
  });
});
