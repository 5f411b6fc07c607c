/** The article's strings, as the data store answers them. */
export const TEXT = {
  ok: 'Hello from data store. You have been authenticated',
  missing: 'X-Client-Id not supplied',
  invalid: 'Invalid token',
} as const;

/** GET with an optional `X-Client-Id`; returns status, body and the reason header. */
export async function call(url: string, token?: string): Promise<{ status: number; body: string; reason: string | null }> {
  const response = await fetch(url, { headers: token === undefined ? {} : { 'X-Client-Id': token }, signal: AbortSignal.timeout(15_000) });
  return { status: response.status, body: await response.text(), reason: response.headers.get('x-auth-reason') };
}

/**
 * Polls `probe` until it returns true or `timeoutMs` passes (the API server caches reviews for 10 s). A probe that
 * throws counts as "not yet" (a port-forward that is moving to a replacement pod refuses connections for a moment);
 * if it still throws at the deadline, that error is thrown.
 */
export async function eventually(probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 1000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: { error: unknown } | undefined;
    try {
      if (await probe()) return true;
    } catch (error) {
      failure = { error };
    }
    if (Date.now() > deadline) {
      if (failure) throw failure.error;
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
