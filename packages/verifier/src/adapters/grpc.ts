import {
  Metadata,
  ServerInterceptingCall,
  status,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { grpcAnswer } from './answers.js';
import { decisionEvent, type AuthDecisionEvent, type CommonAuthOptions } from './authenticate.js';
import type { CheckedToken } from '../token/checked-token.js';
import { KubeAuthError } from '../errors.js';
import {
  RequestAuthenticator,
  type AuthOutcome,
  type KubeAuthResult,
  type RouteAuthOptions,
} from './request-authenticator.js';
import type { TokenScheme } from '../token/extract.js';

// The client side (a caller attaching its rotating token) ships in the same entry.
export {
  serviceAccountCallCredentials,
  serviceAccountTokenInterceptor,
  type GrpcTokenOptions,
} from '../client/grpc-credentials.js';

export type { KubeAuthResult } from './request-authenticator.js';
export type { AuthDecisionEvent } from './authenticate.js';

/** The options one gRPC method may have of its own (see {@link GrpcKubeAuthOptions.methods}); as a fastify route's. */
export type GrpcMethodAuthOptions = RouteAuthOptions;

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
   * health service), an object gives it its own options. As a record, every entry is checked when the interceptor
   * is built (a method that cannot work throws a `ConfigError`/`TypeError` at start-up). As a function, it is asked
   * once per method, on its first call (grpc-js names methods only then): a method whose options cannot work refuses
   * its calls with `INTERNAL` / `route_misconfigured` (not retryable), never lets one through.
   */
  methods?:
    | Readonly<Record<string, GrpcMethodAuthOptions | false>>
    | ((path: string) => GrpcMethodAuthOptions | false | undefined);
  /** Called once per call with the outcome (`method` is `grpc`, `path` the method path). */
  onDecision?: (event: AuthDecisionEvent) => void;
}

// The caller of each authenticated call, on the metadata object the handler receives as `call.metadata`, under a
// symbol no peer can send. A property, not a WeakMap: every Metadata has the same shape, so adding it follows one cached
// transition, where a WeakMap entry per call cost a quarter of a SHA-256 of the token (and the collector's time).
const RESULT = Symbol('kube-service-auth result');
type WithResult = Metadata & { [RESULT]?: KubeAuthResult };

/**
 * The caller of a call that {@link kubeAuthInterceptor} let through: `kubeAuthOf(call)` in a handler gives the
 * frozen `{ identity, decision }`; undefined for a method the interceptor does not guard.
 */
export function kubeAuthOf(call: { metadata: Metadata }): KubeAuthResult | undefined {
  return (call.metadata as WithResult)[RESULT];
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
  const onDecision = options.onDecision;
  const defaultCore = new RequestAuthenticator({ ...options, scheme });
  const methods = options.methods;
  const perMethod = new Map<string, MethodCore | false>();
  if (methods && typeof methods !== 'function') {
    // Known now: every method's options are checked at start-up, as the HTTP adapters check their routes.
    for (const [path, own] of Object.entries(methods)) {
      perMethod.set(path, own === false ? false : RequestAuthenticator.forRoute({ ...options, scheme }, own));
    }
  }
  const coreFor = (path: string): MethodCore | false => {
    if (!methods) return defaultCore;
    let core = perMethod.get(path);
    if (core === undefined) {
      const own = typeof methods === 'function' ? methods(path) : undefined;
      core = own === false ? false : own === undefined ? defaultCore : lateMethodCore(options, scheme, own);
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
                (metadata as WithResult)[RESULT] = outcome.result;
                pass(metadata);
              } else {
                reject(call, outcome.error);
              }
            };
            core.handle(tokenValues(metadata, key), finish, ignoreLateError);
          },
        });
      },
    });
  };
}

type MethodCore = Pick<RequestAuthenticator, 'handle'>;

// finish ends the call itself when a hook throws (UNKNOWN): nothing is left to fail after the wait.
const ignoreLateError = (): void => {};

/**
 * The authenticator of a method named by the `methods` function, on its first call. Options that cannot work refuse
 * every call of the method as `route_misconfigured` (`INTERNAL`: clients do not retry a service that cannot recover
 * until it is fixed), never let one through.
 */
function lateMethodCore(options: GrpcKubeAuthOptions, scheme: TokenScheme, own: GrpcMethodAuthOptions): MethodCore {
  try {
    return RequestAuthenticator.forRoute({ ...options, scheme }, own);
  } catch (cause) {
    const error = new KubeAuthError(
      'route_misconfigured',
      `this method's kube-service-auth options cannot work: ${(cause as Error).message}`,
      { cause },
    );
    return { handle: (_header, finish) => finish({ allowed: false, error }, undefined) };
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
