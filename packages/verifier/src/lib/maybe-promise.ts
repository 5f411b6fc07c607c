/**
 * A value now, or a promise of it. The verifiers answer a repeat caller synchronously (a cache hit: no promise, no
 * microtask) and a new token with a promise; every layer passes that shape on through {@link chain}.
 */
export type MaybePromise<T> = T | Promise<T>;

/** `next(value)` at once when `value` is plain, else once it resolves: the package's one sync-or-promise step. */
export function chain<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}
