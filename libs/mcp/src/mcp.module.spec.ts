import { Test } from '@nestjs/testing';
import { McpClients } from './mcp-clients';
import { McpModule } from './mcp.module';

describe('McpModule', () => {
  it('provides one McpClients and closes it when the application shuts down', async () => {
    const app = await Test.createTestingModule({
      imports: [McpModule.forRoot({ toolsTtlMs: 1_000 })],
    }).compile();
    const clients = app.get(McpClients);
    expect(clients).toBeInstanceOf(McpClients);
    const close = jest.spyOn(clients, 'close');
    await app.close();
    expect(close).toHaveBeenCalledTimes(1);
    // Closed for good: a call after shutdown fails instead of opening a connection.
    const outcome = await clients.listTools({ url: 'http://127.0.0.1:9/mcp' });
    expect(!outcome.ok && outcome.failure.message).toBe('The MCP client pool is shutting down.');
  });
});
