/** The article's strings, as the data store answers them. */
export const TEXT = {
  ok: 'Hello from data store. You have been authenticated',
  missing: 'X-Client-Id not supplied',
  invalid: 'Invalid token',
} as const;

/** GET with an optional `X-Client-Id`; returns status, body and the reason header. */
export async function call(
  url: string,
  token?: string,
): Promise<{ status: number; body: string; reason: string | null }> {
  const response = await fetch(url, {
    headers: token === undefined ? {} : { 'X-Client-Id': token },
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: await response.text(), reason: response.headers.get('x-auth-reason') };
}

export { eventually } from '../support/poll.js';
