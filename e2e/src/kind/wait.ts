import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link waitFor}. The clock and the sleep are injected so that the loop is tested without waiting. */
export interface WaitOptions<T> {
  /** Reads the current state; a thrown error counts as "not yet" and is remembered for the time-out message. */
  poll: () => Promise<T>;
  /** Whether the state is the one waited for. */
  done: (state: T) => boolean;
  /** A terminal failure that waiting will not cure (e.g. ProgressDeadlineExceeded): returns its message. */
  failed?: (state: T) => string | undefined;
  /** Why the latest state is not done yet, for the time-out message and progress reports. */
  describe?: (state: T) => string;
  timeoutMs: number;
  intervalMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<unknown>;
  /** Called when the description of the state changes. */
  onProgress?: (description: string) => void;
}

/**
 * Polls until `done`, a terminal failure, or the time-out. Resolves with the final state; rejects with what is being
 * waited for and the last state (or the last error) seen.
 */
export async function waitFor<T>(what: string, options: WaitOptions<T>): Promise<T> {
  const now = options.now ?? Date.now;
  const pause = options.sleep ?? sleep;
  const interval = options.intervalMs ?? 2000;
  const deadline = now() + options.timeoutMs;
  let last = 'no state read yet';
  for (;;) {
    let description: string;
    try {
      const state = await options.poll();
      if (options.done(state)) return state;
      const failure = options.failed?.(state);
      if (failure) throw new WaitFailure(`${what} failed: ${failure}`);
      description = options.describe?.(state) ?? JSON.stringify(state);
    } catch (err) {
      if (err instanceof WaitFailure) throw err;
      description = `error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (description !== last) options.onProgress?.(description);
    last = description;
    const remaining = deadline - now();
    if (remaining <= 0)
      throw new Error(`timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${what}: ${last}`);
    await pause(Math.min(interval, remaining));
  }
}

class WaitFailure extends Error {}

/** The part of an `apps/v1` Deployment that rollout progress is read from. */
export interface DeploymentLike {
  metadata?: { name?: string; namespace?: string; generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
  };
}

/** Rollout state of the expected Deployments, as `kubectl rollout status` judges it. */
export interface RolloutState {
  done: boolean;
  /** One line per Deployment that is not rolled out yet. */
  pending: string[];
  /** Deployments whose progress deadline passed: waiting longer will not help. */
  failed: string[];
}

/**
 * Judges a `kubectl get deployments -o json` list against the `namespace/name`s expected from the manifests: each must
 * exist, have its latest generation observed, all replicas updated and available, and no old replicas left.
 */
export function rolloutState(list: { items?: DeploymentLike[] }, expected: readonly string[]): RolloutState {
  const byName = new Map((list.items ?? []).map((d) => [`${d.metadata?.namespace}/${d.metadata?.name}`, d]));
  const pending: string[] = [];
  const failed: string[] = [];
  for (const name of expected) {
    const d = byName.get(name);
    if (!d) {
      pending.push(`${name}: not found`);
      continue;
    }
    const want = d.spec?.replicas ?? 1;
    const s = d.status ?? {};
    const stalled = s.conditions?.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded');
    if (stalled) failed.push(`${name}: ${stalled.message ?? 'progress deadline exceeded'}`);
    if ((s.observedGeneration ?? 0) < (d.metadata?.generation ?? 1))
      pending.push(`${name}: waiting for the controller to observe the new spec`);
    else if ((s.updatedReplicas ?? 0) < want)
      pending.push(`${name}: ${s.updatedReplicas ?? 0} of ${want} replicas updated`);
    else if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0))
      pending.push(`${name}: ${(s.replicas ?? 0) - (s.updatedReplicas ?? 0)} old replicas pending termination`);
    else if ((s.availableReplicas ?? 0) < want)
      pending.push(`${name}: ${s.availableReplicas ?? 0} of ${want} updated replicas available`);
  }
  return { done: pending.length === 0 && failed.length === 0, pending, failed };
}
