import type { Item, McpListToolsItem } from './items';
import {
  isServerCall,
  mcpFunctionName,
  mcpFunctionTable,
  McpNameCollision,
  mcpToolOf,
  modelItems,
  scopeRouting,
  serverCallTarget,
  stepOutputText,
  type CallRouting,
} from './server-calls';
import type { StepRecord } from './steps';
import { toolOutputItem } from './transition';

function listing(label: string, ...names: string[]): McpListToolsItem {
  return {
    type: 'mcp_list_tools',
    id: `mcpl_${label}`,
    server_label: label,
    tools: names.map((name) => ({
      name,
      description: null,
      input_schema: { type: 'object' },
      annotations: null,
    })),
    error: null,
  };
}

const ROUTING: CallRouting = {
  serverTools: { get_weather: 'http' },
  clientTools: true,
  mcp: { labels: ['gh', 'gh_x'], tools: { gh__repo_list: { label: 'gh', tool: 'repo.list' } } },
};

describe('MCP function names', () => {
  it('are <label>__<tool>, sanitised to ^[a-zA-Z0-9_-]{1,64}$', () => {
    expect(mcpFunctionName('github', 'search_issues')).toBe('github__search_issues');
    expect(mcpFunctionName('gh', 'repo.list/all')).toBe('gh__repo_list_all');
    const long = mcpFunctionName('gh', 'x'.repeat(100));
    expect(long).toHaveLength(64);
    expect(long).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
  });

  it('route to the listed tool, else to the longest label they start with', () => {
    expect(mcpToolOf(ROUTING, 'gh__repo_list')).toEqual({ label: 'gh', tool: 'repo.list' });
    expect(mcpToolOf(ROUTING, 'gh_x__y')).toEqual({ label: 'gh_x', tool: 'y' });
    expect(mcpToolOf(ROUTING, 'gh__other')).toEqual({ label: 'gh', tool: 'other' });
    expect(mcpToolOf(ROUTING, 'get_weather')).toBeNull();
    expect(mcpToolOf(ROUTING, 'client_fn')).toBeNull();
    expect(isServerCall(ROUTING, 'gh__anything')).toBe(true);
    expect(isServerCall(ROUTING, 'client_fn')).toBe(false);
  });

  it('show the server label and the tool’s own name', () => {
    expect(serverCallTarget(ROUTING, 'gh__repo_list', { kind: 'tool_call' })).toEqual({
      label: 'gh',
      name: 'repo.list',
    });
    expect(serverCallTarget(ROUTING, 'get_weather', { kind: 'tool_call' })).toEqual({
      label: 'http',
      name: 'get_weather',
    });
  });

  it('collide with a clear error', () => {
    expect(() => mcpFunctionTable(['a'], [listing('a', 'x.y', 'x_y')])).toThrow(McpNameCollision);
    expect(() => mcpFunctionTable(['a'], [listing('a', 'x')], ['a__x'])).toThrow(
      /would be offered to the model as 'a__x'/,
    );
    expect(Object.keys(mcpFunctionTable(['a'], [listing('a', 'x'), listing('b', 'y')]))).toEqual([
      'a__x',
    ]);
  });

  it('build a scope’s routing from the listings of its input and of its model steps', () => {
    const made: StepRecord = {
      id: 'step_1',
      round: 0,
      index: 0,
      kind: 'model_call',
      status: 'completed',
      callId: null,
      name: null,
      arguments: null,
      result: { output: [], finishReason: 'stop', listings: [listing('b', 'two')] },
      error: null,
    };
    const routing = scopeRouting(
      {
        tools: { server: {}, mcp: ['a', 'b'] },
        input: [listing('a', 'one')],
        parentStepId: null,
      },
      [made],
    );
    expect(routing.mcp?.tools).toEqual({
      a__one: { label: 'a', tool: 'one', listing: listing('a', 'one').tools[0] },
      b__two: { label: 'b', tool: 'two', listing: listing('b', 'two').tools[0] },
    });
  });
});

describe('MCP items for the model', () => {
  it('drop listings and give calls back under their function names', () => {
    const items: Item[] = [
      listing('gh', 'repo.list'),
      {
        type: 'mcp_call',
        id: 'mcp_abc_1',
        call_id: 'call_1',
        server_label: 'gh',
        name: 'repo.list',
        arguments: '{}',
        output: 'ok',
        error: null,
        status: 'completed',
      },
    ];
    expect(modelItems(items)).toEqual([
      expect.objectContaining({ type: 'function_call', name: 'gh__repo_list', call_id: 'call_1' }),
      expect.objectContaining({ type: 'function_call_output', call_id: 'call_1', output: 'ok' }),
    ]);
  });

  it('give an MCP result with an image to the model as parts, to clients as text', () => {
    const step: StepRecord = {
      id: 'step_2',
      round: 1,
      index: 0,
      kind: 'tool_call',
      status: 'completed',
      callId: 'call_2',
      name: 'gh__image',
      arguments: '{}',
      result: {
        text: '[image: image/png, 68 bytes]',
        parts: [{ type: 'input_image', image_url: 'data:image/png;base64,AA==', detail: 'auto' }],
      },
      error: null,
    };
    expect(toolOutputItem(step).output).toEqual([
      { type: 'input_image', image_url: 'data:image/png;base64,AA==', detail: 'auto' },
    ]);
    expect(stepOutputText(step)).toBe('[image: image/png, 68 bytes]');
  });
});
