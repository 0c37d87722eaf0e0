import { RatchetError } from '@ratchet/core';
import type { ApiKeysRepository, Principal } from '@ratchet/store';

/**
 * The caller an `Authorization` header names, for every transport: HTTP requests (the
 * AuthGuard) and WebSocket upgrades check keys the same way and refuse them in the same words.
 */
export async function authenticateBearer(
  header: string | undefined,
  keys: ApiKeysRepository,
): Promise<Principal> {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) {
    throw new RatchetError(
      'unauthorized',
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      { code: 'missing_api_key' },
    );
  }
  const principal = await keys.authenticate(match[1]);
  if (!principal) {
    throw new RatchetError('unauthorized', 'Incorrect API key provided.', {
      code: 'invalid_api_key',
    });
  }
  return principal;
}
