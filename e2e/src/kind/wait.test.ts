import { describe, expect, it } from 'vitest';
import { rolloutState, waitFor, type DeploymentLike } from './wait.js';

/** A fake clock: `sleep` advances it, so the loop runs without waiting. */
function fakeClock() {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
  };
}

describe('waitFor', () => {
  it('returns the first state that is done, sleeping the interval in between', async () => {
    const clock = fakeClock();
    const states = [1, 2, 3];
    const progress: string[] = [];
    const result = await waitFor('three', {
      poll: async () => states.shift() as number,
      done: (n) => n === 3,
      describe: (n) => `at ${n}`,
      onProgress: (line) => progress.push(line),
      timeoutMs: 60_000,
      intervalMs: 1000,
      ...clock,
    });
    expect(result).toBe(3);
    expect(clock.sleeps).toEqual([1000, 1000]);
    expect(progress).toEqual(['at 1', 'at 2']);
  });

  it('reports progress only when the description changes', async () => {
    const clock = fakeClock();
    let n = 0;
    const progress: string[] = [];
    await waitFor('ten polls', {
      poll: async () => ++n,
      done: (v) => v === 10,
      describe: (v) => (v < 5 ? 'early' : 'late'),
      onProgress: (line) => progress.push(line),
      timeoutMs: 60_000,
      intervalMs: 10,
      ...clock,
    });
    expect(progress).toEqual(['early', 'late']);
  });

  it('retries after errors and times out naming what it waited for and the last error', async () => {
    const clock = fakeClock();
    let polls = 0;
    await expect(
      waitFor('the API server', {
        poll: async () => {
          polls++;
          throw new Error('connect ECONNREFUSED 127.0.0.1:6443');
        },
        done: () => true,
        timeoutMs: 10_000,
        intervalMs: 3000,
        ...clock,
      }),
    ).rejects.toThrow('timed out after 10 s waiting for the API server: error: connect ECONNREFUSED 127.0.0.1:6443');
    // 0, 3, 6, 9, then the last 1 s: never sleeps past the deadline.
    expect(clock.sleeps).toEqual([3000, 3000, 3000, 1000]);
    expect(polls).toBe(5);
  });

  it('stops at once on a terminal failure', async () => {
    const clock = fakeClock();
    await expect(
      waitFor('the rollouts', {
        poll: async () => 'stuck',
        done: () => false,
        failed: (s) => (s === 'stuck' ? 'api/api: ReplicaSet has timed out progressing' : undefined),
        timeoutMs: 60_000,
        ...clock,
      }),
    ).rejects.toThrow('the rollouts failed: api/api: ReplicaSet has timed out progressing');
    expect(clock.sleeps).toEqual([]);
  });
});

function deployment(name: string, status: DeploymentLike['status'], generation = 1): DeploymentLike {
  const [namespace, n] = name.split('/');
  return { metadata: { namespace, name: n, generation }, spec: { replicas: 1 }, status };
}

const READY = { observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 };

describe('rolloutState', () => {
  it('is done when every expected deployment is observed, updated and available', () => {
    const state = rolloutState({ items: [deployment('api/api', READY), deployment('data-store/app', READY)] }, [
      'api/api',
      'data-store/app',
    ]);
    expect(state).toEqual({ done: true, pending: [], failed: [] });
  });

  it('says what each unfinished deployment waits for', () => {
    const state = rolloutState(
      {
        items: [
          deployment('api/api', { ...READY, observedGeneration: 1 }, 2),
          deployment('api/api-v1', { observedGeneration: 1, replicas: 1, updatedReplicas: 0 }),
          deployment('data-store/app', {
            observedGeneration: 1,
            replicas: 2,
            updatedReplicas: 1,
            availableReplicas: 1,
          }),
          deployment('data-store/app-v1', {
            observedGeneration: 1,
            replicas: 1,
            updatedReplicas: 1,
            availableReplicas: 0,
          }),
        ],
      },
      ['api/api', 'api/api-v1', 'data-store/app', 'data-store/app-v1', 'api/intruder'],
    );
    expect(state.done).toBe(false);
    expect(state.pending).toEqual([
      'api/api: waiting for the controller to observe the new spec',
      'api/api-v1: 0 of 1 replicas updated',
      'data-store/app: 1 old replicas pending termination',
      'data-store/app-v1: 0 of 1 updated replicas available',
      'api/intruder: not found',
    ]);
  });

  it('reports a passed progress deadline as a failure', () => {
    const stalled = deployment('api/api', {
      observedGeneration: 1,
      replicas: 1,
      updatedReplicas: 1,
      availableReplicas: 0,
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "api-6d4" has timed out progressing.',
        },
      ],
    });
    expect(rolloutState({ items: [stalled] }, ['api/api']).failed).toEqual([
      'api/api: ReplicaSet "api-6d4" has timed out progressing.',
    ]);
  });
});
