import type { RatchetConfig } from '@ratchet/config';

/** The label of a model or tool name that the config does not know (a client gave it). */
export const OTHER_LABEL = 'other';
/** The label of every MCP tool: their names come from servers a request named. */
export const MCP_LABEL = 'mcp';

/**
 * Label values for model, provider and tool names, bounded by the config: a name the config
 * defines is its own label, anything else (client-given, an MCP server's) collapses to a fixed
 * label, so no request can grow the number of series.
 */
export class MetricLabels {
  private readonly providers: ReadonlyMap<string, string>;
  private readonly tools: ReadonlySet<string>;

  constructor(config: Pick<RatchetConfig, 'models' | 'tools'> | null) {
    this.providers = new Map(
      Object.entries(config?.models ?? {}).map(([name, model]) => [name, model.provider]),
    );
    this.tools = new Set(Object.keys(config?.tools ?? {}));
  }

  model(name: string | null | undefined): string {
    if (!name) return '';
    return this.providers.has(name) ? name : OTHER_LABEL;
  }

  /** The provider (openai-chat, anthropic, mock...) of a configured model. */
  provider(model: string): string {
    return this.providers.get(model) ?? OTHER_LABEL;
  }

  tool(name: string | null | undefined): string {
    if (!name) return '';
    if (this.tools.has(name)) return name;
    // MCP tools are offered as `<server label>__<tool>` (see the README's MCP section).
    return name.includes('__') ? MCP_LABEL : OTHER_LABEL;
  }
}
