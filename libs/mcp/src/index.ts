// @ratchet/mcp: a client for MCP servers as tool sources. See checkMcpUrl / McpAllowList for
// the rules on servers that requests name.
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
export { type McpRenderedContent, renderToolContent } from './mcp-content';
export type { McpCallFailure, McpFailureCode } from './mcp-failures';
