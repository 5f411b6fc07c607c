/**
 * A running deployment of the article's system that the shared end-to-end cases talk to: the embedded local control
 * plane with the services as local processes, or a kind cluster with the services as pods. Both deploy:
 *
 * - variant 2 (projected token, audience `data-store`): the API, a data store in local mode and one in TokenReview mode;
 * - variant 1 (default token, API-server audience): a second API and a data store in TokenReview mode.
 */
export interface DemoTarget {
  readonly name: string;
  /** Base URLs (ending in `/`) of the two API deployments. */
  readonly apiUrls: { variant1: string; variant2: string };
  /** Base URLs (ending in `/`) of the data stores, called directly (as an attacker inside the cluster could). */
  readonly storeUrls: {
    local: string;
    tokenreview: string;
    variant1: string;
    /** Local mode with the revocation watch (`K8S_AUTH_REVOCATION=watch`), where the target deploys one. */
    watch?: string;
  };
  /** A pod in namespace `api` running as ServiceAccount `intruder`: a real workload that is not allowed in. */
  readonly intruderPod: string;
  /** The API server's default audience (what default ServiceAccount tokens are minted for). */
  readonly apiServerAudience: string;
  /** Mints a token through the TokenRequest API, as the kubelet does. */
  requestToken(params: {
    namespace: string;
    serviceAccount: string;
    audiences: string[];
    expirationSeconds?: number;
    /** Bind the token to this pod (in `namespace`). */
    boundPod?: string;
  }): Promise<string>;
  /** The token the variant-2 API currently sends (its projected token file). */
  currentApiToken(): Promise<string>;
  /** Deletes the variant-2 API pod (grace period 0); a replacement pod gets new tokens, as a Deployment would. */
  deleteApiPod(): Promise<void>;
}
