import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { KubeAuthError } from '../errors.js';
import { importVerificationKey, type SignatureKey } from '../token/jws.js';

/** A verification key: a node:crypto public `KeyObject`, imported once per key (and kept across refetches). */
export type VerificationKey = KeyObject;

/**
 * One key of a key set. It is imported into a `KeyObject` on first use, once, and the same instance is carried into
 * the next key set when the refetched JWK is identical: so a verification made with it can be recognised as still
 * valid (see {@link JwksCache.stillHas}) and no key is imported twice.
 */
export class HeldKey {
  private keyObject: KeyObject | undefined;
  private readonly byAlg = new Map<string, SignatureKey | KubeAuthError>();

  constructor(
    readonly jwk: JWK,
    /** The key material and parameters, serialised: equal for the same key in two fetches. */
    readonly material: string,
  ) {}

  /** The key prepared for `alg`; throws `algorithm_not_allowed` when this key cannot verify `alg`. */
  forAlg(alg: string): SignatureKey {
    let prepared = this.byAlg.get(alg);
    if (prepared === undefined) {
      try {
        const imported = importVerificationKey(this.jwk, alg, this.keyObject);
        this.keyObject = imported.keyObject;
        prepared = imported.signatureKey;
      } catch (cause) {
        // checkKeyAlg has matched the key's alg, type and curve to the token's: the published key itself is broken
        // or unsupported (bad material, a short RSA modulus, key_ops without verify). The issuer must fix it.
        prepared = new KubeAuthError(
          'key_unusable',
          `key ${this.jwk.kid ?? '(no kid)'} cannot be imported for ${alg}`,
          { cause },
        );
      }
      this.byAlg.set(alg, prepared);
    }
    if (prepared instanceof KubeAuthError) throw prepared;
    return prepared;
  }

  /** The imported public key, checked for `alg` (throws like {@link forAlg}). */
  keyFor(alg: string): KeyObject {
    this.forAlg(alg);
    return this.keyObject as KeyObject;
  }
}
