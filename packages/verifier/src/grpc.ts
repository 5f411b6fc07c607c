import {
  CallCredentials,
  InterceptingCall,
  Metadata,
  ServerInterceptingCall,
  status,
  type Interceptor,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { grpcAnswer } from './answers.js';
import { decisionEvent, type AuthDecisionEvent, type CommonAuthOptions } from './authenticate.js';
import { CheckedToken } from './checked-token.js';
import type { Policy } from './policy.js';
import { KubeAuthError } from './errors.js';
import { failure, RequestAuthenticator, type AuthOutcome, type KubeAuthResult } from './request-authenticator.js';
import type { AccessAttributes } from './subject-access-review.js';
import { DEFAULT_MAX_TOKEN_BYTES, type TokenScheme } from './token.js';
import type { TokenSource } from './token-source.js';

export type { KubeAuthResult } from './request-authenticator.js';
export type { AuthDecisionEvent } from './authenticate.js';

/** The options one gRPC method may have of its own (see {@link GrpcKubeAuthOptions.methods}). */
export interface GrpcMethodAuthOptions {
  /** Confirm every token of this method with TokenReview. */
  revocationSensitive?: boolean;
  /** This method's allow-list instead of the interceptor's. */
  policy?: Policy;
  /**
   * What this method protects, for the cluster's RBAC (SubjectAccessReview) once the policy allowed the caller, instead
   * of the interceptor's `access`. Static; needs the interceptor's `accessReviewer`.
   */
  access?: AccessAttributes;
}

/**
 * Options of {@link kubeAuthInterceptor}: those of every adapter ({@link CommonAuthOptions}: verifier, policy,
 * `revocationSensitive`, SubjectAccessReview `access` (of every method; a method's own replaces it) and
 * `accessReviewer`, scheme, `maxTokenBytes`, `onDecision`), plus the metadata key and per-method options.
 */
export interface GrpcKubeAuthOptions extends CommonAuthOptions {
  /** The metadata key carrying the token. Default `authorization` (as `Bearer <token>`). */
  key?: string;
  /** `bearer` or `raw`. Default: `bearer` for `authorization`, else `raw`. */
  scheme?: TokenScheme;
  /**
   * Per-method options, by method path (`/package.Service/Method`): `false` leaves a method unauthenticated (e.g. the
   * health service), an object gives it its own options. Asked once per method; the answer is remembered.
   */
  methods?: (path: string) => GrpcMethodAuthOptions | false | undefined;
  /** Called once per call with the outcome (`method` is `grpc`, `path` the method path). */
  onDecision?: (event: AuthDecisionEvent) => void;
}

// The caller of each authenticated call, keyed by the metadata object the handler receives as `call.metadata`.
const results = new WeakMap<Metadata, KubeAuthResult>();

/**
 * The caller of a call that {@link kubeAuthInterceptor} let through: `kubeAuthOf(call)` in a handler gives the
 * frozen `{ identity, decision }`; undefined for a method the interceptor does not guard.
 */
export function kubeAuthOf(call: { metadata: Metadata }): KubeAuthResult | undefined {
  return results.get(call.metadata);
}

/**
 * A grpc-js server interceptor (`new Server({ interceptors: [kubeAuthInterceptor(options)] })`): reads the token from
 * the call's metadata, verifies it and applies the policy before the handler sees the call. Rejections end the call
 * with `UNAUTHENTICATED` (missing or bad token), `PERMISSION_DENIED` (not allowed), `UNAVAILABLE` (the verifier
 * cannot decide now; retryable) or `INTERNAL` (misconfigured: not until an operator acts), with the reason code as the status details and in the `kube-auth-reason` trailer.
 * Handlers read the caller with {@link kubeAuthOf}. A repeat caller is let through synchronously.
 */
export function kubeAuthInterceptor(options: GrpcKubeAuthOptions): ServerInterceptor {
  const key = (options.key ?? 'authorization').toLowerCase();
  const scheme = options.scheme ?? (key === 'authorization' ? 'bearer' : 'raw');
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
  const onDecision = options.onDecision;
  const defaultCore = new RequestAuthenticator({
    verifier: options.verifier,
    policy: options.policy,
    revocationSensitive: options.revocationSensitive,
    access: options.access,
    accessReviewer: options.accessReviewer,
  });
  const perMethod = new Map<string, Pick<RequestAuthenticator, 'authenticate'> | false>();
  const coreFor = (path: string): Pick<RequestAuthenticator, 'authenticate'> | false => {
    if (!options.methods) return defaultCore;
    let core = perMethod.get(path);
    if (core === undefined) {
      const own = options.methods(path);
      core = own === false ? false : own === undefined ? defaultCore : methodCore(options, own);
      perMethod.set(path, core);
    }
    return core;
  };

  return function kubeAuthServerInterceptor(
    method: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ) {
    const core = coreFor(method.path);
    if (core === false) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const started = onDecision ? performance.now() : 0;
            const finish = (outcome: AuthOutcome, token: CheckedToken | undefined) => {
              if (onDecision) {
                // A throwing hook is the application's bug: the call is ended (UNKNOWN), never let through.
                try {
                  onDecision(decisionEvent(outcome, 'grpc', method.path, token, started));
                } catch {
                  call.sendStatus({ code: status.UNKNOWN, details: 'the onDecision hook failed' });
                  return;
                }
              }
              if (outcome.allowed) {
                results.set(metadata, outcome.result);
                pass(metadata);
              } else {
                reject(call, outcome.error);
              }
            };
            let token: CheckedToken;
            try {
              token = CheckedToken.fromHeader(tokenValues(metadata, key), scheme, maxTokenBytes);
            } catch (err) {
              finish(failure(err), undefined);
              return;
            }
            const outcome = core.authenticate(token);
            if (outcome instanceof Promise) {
              // The core never rejects, and finish catches the hook: nothing is left to fail here.
              void outcome.then((settled) => finish(settled, token));
              return;
            }
            finish(outcome, token);
          },
        });
      },
    });
  };
}

/**
 * The authenticator of a method with options of its own. Methods are only known on their first call: options that
 * cannot work (attributes without a reviewer) refuse every call of the method, never let one through.
 */
function methodCore(
  options: GrpcKubeAuthOptions,
  own: GrpcMethodAuthOptions,
): Pick<RequestAuthenticator, 'authenticate'> {
  try {
    return new RequestAuthenticator({
      verifier: options.verifier,
      policy: own.policy ?? options.policy,
      revocationSensitive: own.revocationSensitive ?? options.revocationSensitive,
      access: own.access ?? options.access,
      accessReviewer: options.accessReviewer,
    });
  } catch (cause) {
    const error = new KubeAuthError(
      'internal_error',
      `this method's kube-service-auth options are invalid: ${(cause as Error).message}`,
      { cause },
    );
    return { authenticate: () => ({ allowed: false, error }) };
  }
}

/** The string values of a metadata key; a binary value is not a token and is refused as malformed. */
function tokenValues(metadata: Metadata, key: string): string | string[] | undefined {
  const values = metadata.get(key);
  if (values.length === 0) return undefined;
  if (values.length === 1) {
    const value = values[0];
    return typeof value === 'string' ? value : ' ';
  }
  return values.map((v) => (typeof v === 'string' ? v : ' '));
}

function reject(call: ServerInterceptingCallInterface, error: KubeAuthError): void {
  const answer = grpcAnswer(error);
  const trailer = new Metadata();
  trailer.set('kube-auth-reason', error.code);
  call.sendStatus({ code: answer.code, details: answer.details, metadata: trailer });
}

/** Options of the client-side helpers. */
export interface GrpcTokenOptions {
  /** The metadata key to carry the token. Default `authorization` (as `Bearer <token>`); any other gets the bare token. */
  key?: string;
}

function tokenMetadata(metadata: Metadata, key: string, token: string): void {
  metadata.set(key, key === 'authorization' ? `Bearer ${token}` : token);
}

/**
 * Call credentials that attach the current token of `source` (e.g. a {@link FileTokenSource} over the projected,
 * rotating token) to every call. grpc-js sends call credentials only over TLS channels; for plaintext channels inside
 * a mesh use {@link serviceAccountTokenInterceptor}.
 */
export function serviceAccountCallCredentials(source: TokenSource, options: GrpcTokenOptions = {}): CallCredentials {
  const key = (options.key ?? 'authorization').toLowerCase();
  return CallCredentials.createFromMetadataGenerator((_params, callback) => {
    source.getToken().then(
      (token) => {
        const metadata = new Metadata();
        tokenMetadata(metadata, key, token);
        callback(null, metadata);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))),
    );
  });
}

/**
 * A grpc-js client interceptor that attaches the current token of `source` to every call, over any channel,
 * plaintext included (`new Client(address, credentials.createInsecure(), { interceptors: [...] })`). A token that
 * cannot be read fails the call with `UNAVAILABLE` and the source's error code, and nothing is sent.
 */
export function serviceAccountTokenInterceptor(source: TokenSource, options: GrpcTokenOptions = {}): Interceptor {
  const key = (options.key ?? 'authorization').toLowerCase();
  return (interceptorOptions, nextCall) =>
    new InterceptingCall(nextCall(interceptorOptions), {
      start(metadata, listener, next) {
        source.getToken().then(
          (token) => {
            tokenMetadata(metadata, key, token);
            next(metadata, listener);
          },
          (err: unknown) => {
            const code = (err as { code?: unknown }).code;
            const details = `cannot read this caller's token${typeof code === 'string' ? ` (${code})` : ''}: ${(err as Error).message}`;
            listener.onReceiveStatus?.({ code: status.UNAVAILABLE, details, metadata: new Metadata() });
          },
        );
      },
    });
}
