/** The parts of an identity that {@link freezeIdentity} makes immutable (a `ServiceAccountIdentity` has them all). */
interface FreezableIdentity {
  serviceAccount: object;
  pod?: object;
  node?: object;
  groups: readonly string[];
  audiences: readonly string[];
  issuedAt?: Date;
  expiresAt?: Date;
}

const MUTATORS = [
  'setDate',
  'setFullYear',
  'setHours',
  'setMilliseconds',
  'setMinutes',
  'setMonth',
  'setSeconds',
  'setTime',
  'setUTCDate',
  'setUTCFullYear',
  'setUTCHours',
  'setUTCMilliseconds',
  'setUTCMinutes',
  'setUTCMonth',
  'setUTCSeconds',
] as const;

/**
 * A Date whose setters throw: `Object.freeze` does not stop `setTime()` (a Date keeps its time in an internal slot),
 * and identities are shared between requests through the caches.
 */
class ImmutableDate extends Date {
  // Explicit: the implicit derived constructor forwards `...args`, which is slower.
  constructor(time: number) {
    super(time);
  }
}
for (const name of MUTATORS) {
  Object.defineProperty(ImmutableDate.prototype, name, {
    value() {
      throw new TypeError(`Date.${name}: this date belongs to a cached identity and cannot be changed`);
    },
  });
}
Object.freeze(ImmutableDate.prototype);

/** A frozen Date whose setters throw, at `time` (ms since the epoch). */
export function immutableDateAt(time: number): Date {
  return Object.freeze(new ImmutableDate(time));
}

function immutableDate(date: Date | undefined): Date | undefined {
  if (date === undefined || date instanceof ImmutableDate) return date;
  return immutableDateAt(date.getTime());
}

/**
 * Makes an identity deeply immutable (frozen objects and arrays, dates that cannot be set), so that the object a cache
 * hands to one request cannot be changed by it for the next. Returns the same object when it is already frozen.
 */
export function freezeIdentity<T extends FreezableIdentity>(identity: T): T {
  if (Object.isFrozen(identity)) return identity;
  Object.freeze(identity.serviceAccount);
  if (identity.pod) Object.freeze(identity.pod);
  if (identity.node) Object.freeze(identity.node);
  Object.freeze(identity.groups);
  Object.freeze(identity.audiences);
  if (identity.issuedAt) identity.issuedAt = immutableDate(identity.issuedAt);
  if (identity.expiresAt) identity.expiresAt = immutableDate(identity.expiresAt);
  return Object.freeze(identity);
}
