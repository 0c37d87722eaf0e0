/** The top scope of a response has an id derived from the response's. */
export function topScopeId(responseId: string): string {
  return `scope_${responseId.replace(/^resp_/, '')}`;
}
