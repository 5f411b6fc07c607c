/**
 * The two review APIs the package asks the API server, as small interfaces that tests and other transports implement,
 * with default implementations over `@kubernetes/client-node` (loaded on the first review, see `client-node.ts`).
 */
import type {
  AuthenticationV1Api,
  AuthorizationV1Api,
  KubeConfig,
  V1SubjectAccessReview,
  V1TokenReview,
} from '@kubernetes/client-node';
import { loadClientNode } from './client-node.js';

/** Per-request options of {@link TokenReviewClient.createTokenReview}. */
export interface TokenReviewRequestOptions {
  /** Aborted when the review times out: the client must give up the HTTP request (and its connection) at once. */
  signal?: AbortSignal;
}

/** Creates TokenReviews. The default talks to the API server through `@kubernetes/client-node`. */
export interface TokenReviewClient {
  createTokenReview(review: V1TokenReview, options?: TokenReviewRequestOptions): Promise<V1TokenReview>;
}

/**
 * A {@link TokenReviewClient} for a kubeconfig (`KubeConfig.loadFromDefault()` gives in-cluster credentials in a pod).
 * The abort signal reaches the HTTP request through client-node's request context (`RequestContext.setSignal`), so a
 * timed-out review closes its request instead of leaving it open on a slow API server.
 */
export function tokenReviewClient(kubeConfig: KubeConfig): TokenReviewClient {
  // As makeApiClient would, at once: a kubeconfig without a cluster fails where it is used, not on a request.
  if (!kubeConfig.getCurrentCluster()) throw new TypeError('the kubeconfig has no current cluster');
  // client-node is imported on the first review, not before: whoever holds a KubeConfig has usually loaded it already.
  let api: AuthenticationV1Api | undefined;
  return {
    createTokenReview: async (body, options) => {
      const { AuthenticationV1Api, Observable } = await loadClientNode();
      api ??= kubeConfig.makeApiClient(AuthenticationV1Api);
      const signal = options?.signal;
      if (!signal) return api.createTokenReview({ body });
      return api.createTokenReview(
        { body },
        {
          middleware: [
            {
              pre: (context) => {
                context.setSignal(signal);
                return new Observable(Promise.resolve(context));
              },
              post: (response) => new Observable(Promise.resolve(response)),
            },
          ],
          middlewareMergeStrategy: 'append',
        },
      );
    },
  };
}

/** Creates SubjectAccessReviews. The default talks to the API server through `@kubernetes/client-node`. */
export interface SubjectAccessReviewClient {
  createSubjectAccessReview(review: V1SubjectAccessReview): Promise<V1SubjectAccessReview>;
}

/** A {@link SubjectAccessReviewClient} for a kubeconfig. The service needs `system:auth-delegator`. */
export function subjectAccessReviewClient(kubeConfig: KubeConfig): SubjectAccessReviewClient {
  // As makeApiClient would, at once: a kubeconfig without a cluster fails where it is used, not on a request.
  if (!kubeConfig.getCurrentCluster()) throw new TypeError('the kubeconfig has no current cluster');
  // client-node is imported on the first review, as for tokenReviewClient.
  let api: AuthorizationV1Api | undefined;
  return {
    createSubjectAccessReview: async (body) => {
      const { AuthorizationV1Api } = await loadClientNode();
      api ??= kubeConfig.makeApiClient(AuthorizationV1Api);
      return api.createSubjectAccessReview({ body });
    },
  };
}
