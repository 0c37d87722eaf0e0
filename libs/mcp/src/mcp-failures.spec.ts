import { SseError } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { classifyMcpError, type FailureContext, McpUrlRefusedError } from './mcp-failures';

const sent: FailureContext = {
  server: 'https://mcp.example.com/mcp',
  action: 'calling the tool "x"',
  sent: true,
};
const connecting: FailureContext = { ...sent, action: 'connecting', sent: false };

/** What undici's fetch throws when the socket fails: a TypeError with the cause inside. */
function fetchFailed(code: string): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

describe('classifyMcpError', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])(
    'reads %s as unreachable, and retryable',
    (code) => {
      expect(classifyMcpError(fetchFailed(code), sent)).toEqual({
        code: 'mcp_unreachable',
        message: `Could not reach the MCP server at https://mcp.example.com/mcp (${code}).`,
        retryable: true,
      });
    },
  );

  it('reads a broken socket as lost once the request was sent, unreachable before', () => {
    expect(classifyMcpError(fetchFailed('UND_ERR_SOCKET'), sent)).toMatchObject({
      code: 'mcp_connection_lost',
      retryable: true,
    });
    expect(classifyMcpError(fetchFailed('ECONNRESET'), sent).message).toContain(
      'may or may not have been carried out',
    );
    expect(classifyMcpError(fetchFailed('ECONNRESET'), connecting).code).toBe('mcp_unreachable');
  });

  it('reads TLS failures as unreachable', () => {
    expect(
      classifyMcpError(fetchFailed('DEPTH_ZERO_SELF_SIGNED_CERT'), connecting).message,
    ).toContain('TLS failed');
  });

  it.each([
    [401, 'mcp_auth_error', false],
    [403, 'mcp_auth_error', false],
    [404, 'mcp_not_found', false],
    [400, 'mcp_http_error', false],
    [429, 'mcp_http_error', true],
    [500, 'mcp_http_error', true],
    [503, 'mcp_http_error', true],
  ])('reads HTTP %i as %s (retryable: %s)', (status, code, retryable) => {
    const failure = classifyMcpError(
      new StreamableHTTPError(status, 'Error POSTing to endpoint: go away'),
      sent,
    );
    expect(failure).toMatchObject({ code, status, retryable });
    expect(failure.message).toContain(': go away');
  });

  it('reads a redirect that reached it as refused for good', () => {
    const error = new StreamableHTTPError(
      307,
      "Error POSTing to endpoint: Redirect to https://elsewhere.example/mcp not followed (redirectPolicy: 'same-origin')",
    );
    const failure = classifyMcpError(error, connecting);
    expect(failure).toMatchObject({ code: 'mcp_http_error', status: 307, retryable: false });
    expect(failure.message).toContain('Redirect to https://elsewhere.example/mcp not followed');
  });

  it('finds the status in the old transport’s errors', () => {
    expect(
      classifyMcpError(new Error('Error POSTing to endpoint (HTTP 403): nope'), sent),
    ).toMatchObject({
      code: 'mcp_auth_error',
      status: 403,
    });
    const event = { type: 'error', code: 404, message: 'Non-200 status code (404)' };
    expect(
      classifyMcpError(new SseError(404, 'Non-200 status code (404)', event as never), connecting),
    ).toMatchObject({
      code: 'mcp_not_found',
      status: 404,
    });
  });

  it('reads JSON-RPC errors as protocol errors with their code', () => {
    const failure = classifyMcpError(
      new McpError(ErrorCode.MethodNotFound, 'Method not found'),
      sent,
    );
    expect(failure).toEqual({
      code: 'mcp_protocol_error',
      message:
        'The MCP server at https://mcp.example.com/mcp answered calling the tool "x" with error -32601 (method not found): Method not found',
      retryable: false,
      rpcCode: -32601,
    });
    expect(classifyMcpError(new McpError(-32050, 'quota'), sent).message).toContain(
      '(server error): quota',
    );
    expect(classifyMcpError(new McpError(42, 'custom'), sent).message).toContain(
      '(application error)',
    );
  });

  it('reads the SDK’s own closed connection and timeout codes', () => {
    expect(
      classifyMcpError(new McpError(ErrorCode.ConnectionClosed, 'Connection closed'), sent).code,
    ).toBe('mcp_connection_lost');
    expect(
      classifyMcpError(new McpError(ErrorCode.RequestTimeout, 'Request timed out'), sent).code,
    ).toBe('mcp_timeout');
  });

  it('finds a guard refusal anywhere in the causes', () => {
    const error = new TypeError('fetch failed', {
      cause: new McpUrlRefusedError('10.0.0.1 is a private address'),
    });
    expect(classifyMcpError(error, connecting)).toEqual({
      code: 'mcp_url_refused',
      message:
        'The MCP server at https://mcp.example.com/mcp is not allowed: 10.0.0.1 is a private address.',
      retryable: false,
    });
  });

  it('reads a malformed message as a protocol error', () => {
    const zod = Object.assign(new Error('invalid'), { name: 'ZodError' });
    expect(classifyMcpError(zod, sent).code).toBe('mcp_protocol_error');
    expect(
      classifyMcpError(
        new Error("Server's protocol version is not supported: 1999-01-01"),
        connecting,
      ).code,
    ).toBe('mcp_protocol_error');
  });

  it('quotes a long server message only in part', () => {
    const failure = classifyMcpError(
      new StreamableHTTPError(500, `Error POSTing to endpoint: ${'x'.repeat(5_000)}`),
      sent,
    );
    expect(failure.message.length).toBeLessThan(500);
    expect(failure.message.endsWith('…')).toBe(true);
  });
});
