/** The top scope of a response has an id derived from the response's. */
export function topScopeId(responseId: string): string {
  return `scope_${responseId.replace(/^resp_/, '')}`;
}

/** `topScopeId` in SQL, of the response id that the expression `responseId` gives. */
export const topScopeIdOf = (responseId: string): string => `'scope_' || substr(${responseId}, 6)`;
