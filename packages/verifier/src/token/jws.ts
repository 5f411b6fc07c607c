import { isAscii, isUtf8 } from 'node:buffer';
import { constants, createPublicKey, verify, type KeyObject, type VerifyKeyObjectInput } from 'node:crypto';
import type { JWK } from 'jose';
import { KubeAuthError } from '../errors.js';

/**
 * The compact JWS, decoded and checked exactly as far as jose's `jwtVerify` would before it looks at the key:
 * JSON objects in header and payload (strict UTF-8), a non-empty `alg`, and the `crit`/`b64` rules of RFC 7515/7797.
 * The signature is checked by {@link verifySignature} with node:crypto, synchronously, on the calling thread (jose 6
 * goes through WebCrypto, which queues each check on the thread pool: four times the cost of the check itself).
 */
export interface DecodedJws {
  /** Frozen: decoded headers are shared between tokens (see {@link decodeJws}). */
  header: Readonly<Record<string, unknown>>;
  alg: string;
  payload: Record<string, unknown>;
  /** `<header>.<payload>`, the signed bytes (ASCII). */
  signingInput: string;
  /** The third segment, still base64url. */
  signature: string;
}

interface DecodedHeader {
  header: Readonly<Record<string, unknown>>;
  alg: string;
}

// The tokens of one issuer share their header byte for byte (`{"alg":"RS256","kid":"…"}`), so a header is decoded and
// checked once, not once per token. Keyed by the exact segment, a hit is what decoding would give; only headers that
// passed every check are kept. Bounded in entries and size, and emptied when full: a flood of distinct headers costs
// what it cost without the cache, plus O(bound) memory.
const HEADER_CACHE_ENTRIES = 32;
const HEADER_CACHE_MAX_CHARS = 512;
const decodedHeaders = new Map<string, DecodedHeader>();

/** Decodes a token whose shape (three base64url segments) is already checked. Throws `token_malformed`. */
export function decodeJws(token: string): DecodedJws {
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  const { header, alg } = decodeHeader(token.slice(0, first));
  return {
    header,
    alg,
    payload: jsonSegment(token.slice(first + 1, second), 'payload'),
    signingInput: token.slice(0, second),
    signature: token.slice(second + 1),
  };
}

function decodeHeader(segment: string): DecodedHeader {
  const known = decodedHeaders.get(segment);
  if (known !== undefined) return known;
  const header = jsonSegment(segment, 'header');
  const alg = header.alg;
  if (typeof alg !== 'string' || alg === '') throw malformed('the header has no alg');
  checkCritical(header);
  const decoded: DecodedHeader = { header: Object.freeze(header), alg };
  if (segment.length <= HEADER_CACHE_MAX_CHARS) {
    if (decodedHeaders.size >= HEADER_CACHE_ENTRIES) decodedHeaders.clear();
    decodedHeaders.set(segment, decoded);
  }
  return decoded;
}

// RFC 7515 §4.1.11: every name in `crit` must be understood. jose understands `b64` (RFC 7797) only, and a JWT with an
// unencoded payload (`b64: false`) is refused.
function checkCritical(header: Record<string, unknown>): void {
  const crit = header.crit;
  if (crit === undefined) return;
  if (!Array.isArray(crit) || crit.length === 0 || crit.some((c) => typeof c !== 'string' || c === '')) {
    throw malformed('crit must be an array of non-empty strings');
  }
  for (const name of crit as string[]) {
    if (name !== 'b64') throw malformed(`the critical header ${name} is not supported`);
    if (!Object.hasOwn(header, name) || header[name] === undefined)
      throw malformed(`the critical header ${name} is missing`);
  }
  if (typeof header.b64 !== 'boolean') throw malformed('b64 must be a boolean');
  if (!header.b64) throw malformed('a JWT must not use an unencoded payload');
}

// Decoding and verifying happen synchronously on the calling thread, so one scratch buffer per thread can hold the
// decoded bytes: no Buffer (and no pool slab every few tokens) is allocated per token. Big enough for tokens of the
// default size limit; a larger token takes the allocating path.
const SCRATCH_BYTES = 16 * 1024;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

// A plain Uint8Array view costs a third of `Buffer#subarray` (which constructs a Buffer subclass).
function scratchView(start: number, length: number): Uint8Array {
  return new Uint8Array(scratch.buffer, scratch.byteOffset + start, length);
}

function jsonSegment(segment: string, what: string): Record<string, unknown> {
  checkBase64Length(segment, what);
  // jose decodes with a fatal TextDecoder, which also drops a leading byte-order mark.
  let text: string;
  if (segment.length <= SCRATCH_BYTES) {
    const length = scratch.write(segment, 0, 'base64url');
    const bytes = scratchView(0, length);
    // The usual JWT is ASCII: read as latin1 it is the same string (no BOM can be there: its bytes are not ASCII), and
    // one pass cheaper than validating and decoding UTF-8 (~1 µs of a payload's ~5 µs with JSON.parse).
    if (isAscii(bytes)) {
      text = scratch.toString('latin1', 0, length);
    } else {
      if (!isUtf8(bytes)) throw malformed(`the ${what} is not UTF-8`);
      text = scratch.toString('utf8', hasByteOrderMark(scratch, length) ? 3 : 0, length);
    }
  } else {
    const bytes = Buffer.from(segment, 'base64url');
    if (!isUtf8(bytes)) throw malformed(`the ${what} is not UTF-8`);
    text = bytes.toString('utf8', hasByteOrderMark(bytes, bytes.length) ? 3 : 0);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new KubeAuthError('token_malformed', `the ${what} is not JSON`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(`the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function hasByteOrderMark(bytes: Buffer, length: number): boolean {
  return length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

function checkBase64Length(segment: string, what: string): void {
  // Base64 cannot end with a lone character (Node's decoder ignores it; WebCrypto's and jose's refuse it): refusing it
  // keeps one token one meaning.
  if (segment.length % 4 === 1) throw malformed(`the ${what} is not valid base64url`);
}

function malformed(message: string): KubeAuthError {
  return new KubeAuthError('token_malformed', message);
}

/** What node:crypto needs for one algorithm: the digest and the key with its padding or signature encoding. */
export interface SignatureKey {
  digest: string;
  key: KeyObject | VerifyKeyObjectInput;
}

const DIGEST: Record<string, string> = {
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
};
const CURVE: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
const NODE_CURVE: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/**
 * Imports a public JWK (RSA or EC) for one algorithm, with the checks jose applies to it: key type and curve match the algorithm,
 * RSA keys have at least 2048 bits, `key_ops` (when present) allows only `verify`. Throws a plain Error when the key
 * cannot be used for `alg`.
 */
export function importVerificationKey(
  jwk: JWK,
  alg: string,
  imported?: KeyObject,
): { keyObject: KeyObject; signatureKey: SignatureKey } {
  const digest = DIGEST[alg];
  if (digest === undefined) throw new Error(`unsupported alg ${alg}`);
  if (
    jwk.key_ops !== undefined &&
    !(Array.isArray(jwk.key_ops) && jwk.key_ops.length > 0 && jwk.key_ops.every((op) => op === 'verify'))
  ) {
    throw new Error('key_ops does not allow verify');
  }
  const family = alg.slice(0, 2);
  const wanted = family === 'ES' ? 'EC' : 'RSA';
  if (jwk.kty !== wanted) throw new Error(`a ${String(jwk.kty)} key cannot verify ${alg}`);
  if (wanted === 'EC' && jwk.crv !== CURVE[alg]) throw new Error(`a ${String(jwk.crv)} key cannot verify ${alg}`);
  const keyObject = imported ?? createPublicKey({ key: jwk, format: 'jwk' });
  const details = keyObject.asymmetricKeyDetails ?? {};
  if (wanted === 'RSA' && (keyObject.asymmetricKeyType !== 'rsa' || (details.modulusLength ?? 0) < 2048)) {
    throw new Error(`${alg} needs an RSA key of at least 2048 bits`);
  }
  if (
    wanted === 'EC' &&
    (keyObject.asymmetricKeyType !== 'ec' || details.namedCurve !== NODE_CURVE[CURVE[alg] as string])
  ) {
    throw new Error(`the key is not on ${CURVE[alg]}`);
  }
  let key: SignatureKey['key'] = keyObject;
  if (family === 'PS')
    key = { key: keyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  if (family === 'ES') key = { key: keyObject, dsaEncoding: 'ieee-p1363' };
  return { keyObject, signatureKey: { digest, key } };
}

/** Checks the signature of a decoded JWS. Throws `token_malformed` for an undecodable signature, else returns the verdict. */
export function verifySignature(jws: DecodedJws, key: SignatureKey): boolean {
  const { signingInput, signature } = jws;
  checkBase64Length(signature, 'signature');
  let data: Uint8Array;
  let signatureBytes: Uint8Array;
  if (signingInput.length + signature.length <= SCRATCH_BYTES) {
    const dataLength = scratch.write(signingInput, 0, 'latin1');
    const signatureLength = scratch.write(signature, dataLength, 'base64url');
    data = scratchView(0, dataLength);
    signatureBytes = scratchView(dataLength, signatureLength);
  } else {
    data = Buffer.from(signingInput, 'latin1');
    signatureBytes = Buffer.from(signature, 'base64url');
  }
  try {
    return verify(key.digest, data, key.key, signatureBytes);
  } catch {
    // A signature of the wrong length for the key, for instance: not a valid signature.
    return false;
  }
}
