/*
 * Finding people: GET /v1/users?q= where the server has it. Until it does (a
 * 404 or 405 for the route), the app says so once and the user types an exact
 * username instead, which POST /v1/conversations and the member routes take.
 */
import { PipitError, type Client } from '@pipit/sdk';
import type { UserInfo } from './store';

let supported: boolean | null = null;

/** Whether user search is known to be missing on this server. */
export function searchUnsupported(): boolean {
  return supported === false;
}

/** Users matching `q`, or null when the server has no search. */
export async function searchUsers(client: Client, q: string, limit = 8): Promise<UserInfo[] | null> {
  if (supported === false) return null;
  try {
    const answer = await client.call<unknown>('GET', `/v1/users?q=${encodeURIComponent(q.slice(0, 64))}&limit=${limit}`);
    supported = true;
    const list = Array.isArray(answer) ? answer : (answer as { users?: unknown }).users;
    return Array.isArray(list) ? list.filter(isUser) : [];
  } catch (err) {
    if (err instanceof PipitError && (err.status === 404 || err.status === 405) && supported === null) {
      supported = false;
      return null;
    }
    throw err;
  }
}

function isUser(u: unknown): u is UserInfo {
  const x = u as UserInfo;
  return typeof x === 'object' && x !== null && typeof x.id === 'number' && typeof x.username === 'string';
}
