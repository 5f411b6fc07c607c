/** Polls `probe` every `intervalMs` until it returns a value that `done` accepts, or `timeoutMs` passes. */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 250,
): Promise<{ value: T; history: T[] }> {
  const deadline = Date.now() + timeoutMs;
  const history: T[] = [];
  for (;;) {
    const value = await probe();
    history.push(value);
    if (done(value) || Date.now() > deadline) return { value, history };
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Polls `probe` until it returns true or `timeoutMs` passes; true when it did. A probe that throws counts as "not yet"
 * (a port-forward that is moving to a replacement pod refuses connections for a moment); if it still throws at the
 * deadline, that error is thrown.
 */
export async function eventually(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 1000,
): Promise<boolean> {
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
