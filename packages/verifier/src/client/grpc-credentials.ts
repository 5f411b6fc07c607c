import { CallCredentials, InterceptingCall, Metadata, status, type Interceptor } from '@grpc/grpc-js';
import type { TokenSource } from './token-source.js';

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
