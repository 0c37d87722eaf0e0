// @ratchet/mcp: a client for MCP servers as tool sources. See McpClients for the pool, and
// checkMcpUrl / McpAllowList for the rules on servers that requests name.
export { classifyAddress, type SpecialAddressKind } from './address-ranges';
export {
  checkMcpUrl,
  checkMcpUrlResolved,
  displayUrl,
  type McpAddressPolicy,
  McpAllowList,
  McpAllowListError,
  type McpAllowRule,
  mcpAllowListSchema,
  type McpResolvedUrlCheck,
  type McpResolver,
  type McpUrlCheck,
  systemResolver,
} from './mcp-allow-list';
export {
  MCP_IDEMPOTENCY_META_KEY,
  type McpCallOutcome,
  McpClients,
  type McpClientsOptions,
  type McpListToolsOptions,
  type McpListToolsOutcome,
  type McpServer,
  type McpTool,
  type McpToolCall,
  type McpToolResult,
} from './mcp-clients';
export type { McpLogger, McpTransportKind, McpTransportSetting } from './mcp-connection';
export { type McpRenderedContent, renderToolContent } from './mcp-content';
export type { McpCallFailure, McpFailureCode } from './mcp-failures';
export { McpModule } from './mcp.module';
