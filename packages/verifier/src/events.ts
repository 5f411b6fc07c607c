import type { ReasonCode } from './errors.js';

/**
 * What the verifier reports about its own work, for logs and metrics. Events never carry a token; `tokenHash`
 * (see {@link tokenHash}) is there when a request needs to be correlated.
 */
export type VerifierEvent =
  | { type: 'jwks_fetch'; issuer: string; ok: true; keys: number; durationMs: number; maxAgeSeconds: number }
  | { type: 'jwks_fetch'; issuer: string; ok: false; durationMs: number; error: string }
  | { type: 'jwks_stale'; issuer: string; ageSeconds: number }
  | { type: 'token_review'; ok: true; authenticated: boolean; durationMs: number }
  | { type: 'token_review'; ok: false; reason: ReasonCode; durationMs: number; error: string }
  | { type: 'cache'; cache: 'verified' | 'token_review'; hit: boolean };

/** Receives {@link VerifierEvent}s. Must not throw; it runs on the request path. */
export type EventListener = (event: VerifierEvent) => void;
