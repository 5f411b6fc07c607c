/**
 * The controls of the benchmarks: what a framework charges for any hook at all, and what the result cache's key costs
 * a request, measured beside our adapters so that their figures can be read against them.
 */
import { hash } from 'node:crypto';
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';

/**
 * What the result cache's key costs a request, for the hash-only controls: SHA-256 of the token after `Bearer `, as
 * `tokenHash` computes it (one-shot, base64url).
 */
export function hashHeader(value: string | undefined): void {
  if (value !== undefined) void hash('sha256', value.slice(7), 'base64url');
}

/**
 * The gRPC control: an interceptor of the same shape as ours (a listener whose `onReceiveMetadata` passes the metadata
 * on), doing nothing else, or also hashing the token: what grpc-js's interceptor machinery costs a call by itself.
 */
export function passThroughInterceptor(hashToken: boolean): ServerInterceptor {
  return (_method, call) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            if (hashToken) {
              const value = metadata.get('authorization')[0];
              hashHeader(typeof value === 'string' ? value : undefined);
            }
            pass(metadata);
          },
        });
      },
    });
}
