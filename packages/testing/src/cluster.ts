import {
  ApiException,
  AuthenticationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  RbacAuthorizationV1Api,
  loadAllYaml,
  type KubeConfig,
  type KubernetesObject,
  type V1TokenReviewStatus,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

/** Image of pods created by {@link ClusterClient.createPod}: nothing ever pulls it, as no kubelet runs. */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';

/** Result of a TokenRequest. */
export interface RequestedToken {
  token: string;
  expirationTimestamp: Date;
}

/** Parameters of {@link ClusterClient.requestToken}. */
export interface TokenRequestParams {
  namespace: string;
  serviceAccount: string;
  audiences?: string[];
  /** At least 600: the API server rejects shorter lifetimes. */
  expirationSeconds?: number;
  /** Binds the token to this pod: a TokenReview then fails once the pod is gone (or has another uid). */
  pod?: { name: string; uid: string };
}

/** Whether `error` is an API error with HTTP status `code`. */
export function isApiError(error: unknown, code: number): boolean {
  return error instanceof ApiException && error.code === code;
}

async function ignoreStatus<T>(promise: Promise<T>, code: number): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (isApiError(error, code)) return undefined;
    throw error;
  }
}

/**
 * Helpers for the objects the tests need, over the object-style `@kubernetes/client-node` APIs. Works with any
 * `KubeConfig`: the control plane's admin one, or one built from a ServiceAccount token.
 */
export class ClusterClient {
  readonly core: CoreV1Api;
  readonly rbac: RbacAuthorizationV1Api;
  readonly authn: AuthenticationV1Api;
  readonly objects: KubernetesObjectApi;

  constructor(readonly kubeConfig: KubeConfig) {
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    this.authn = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  }

  /** Creates the namespace unless it exists. */
  async applyNamespace(name: string): Promise<void> {
    await ignoreStatus(this.core.createNamespace({ body: { metadata: { name } } }), 409);
  }

  /**
   * Creates a ServiceAccount (the namespace must exist).
   * @returns its uid, which appears in tokens as `kubernetes.io.serviceaccount.uid`.
   */
  async createServiceAccount(namespace: string, name: string): Promise<string> {
    const sa = await this.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
    return sa.metadata?.uid as string;
  }

  /** Deletes a ServiceAccount; its tokens stop authenticating (the API server looks ServiceAccounts up). */
  async deleteServiceAccount(namespace: string, name: string): Promise<void> {
    await ignoreStatus(this.core.deleteNamespacedServiceAccount({ namespace, name }), 404);
  }

  /**
   * Creates a Pod that never runs. The ServiceAccount admission plugin is off, so the ServiceAccount is set here and
   * no token volume is mounted.
   * @returns the pod uid, for pod-bound TokenRequests.
   */
  async createPod(
    namespace: string,
    name: string,
    serviceAccountName: string,
    options: { nodeName?: string } = {},
  ): Promise<string> {
    const pod = await this.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name, labels: { app: name } },
        spec: {
          serviceAccountName,
          automountServiceAccountToken: false,
          nodeName: options.nodeName,
          containers: [{ name: 'main', image: PAUSE_IMAGE }],
        },
      },
    });
    return pod.metadata?.uid as string;
  }

  /**
   * Deletes a Pod at once: without a kubelet, a pod with a node would otherwise stay Terminating forever.
   * Resolves when the pod is gone from the API.
   */
  async deletePod(namespace: string, name: string, timeoutMs = 30_000): Promise<void> {
    await ignoreStatus(this.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }), 404);
    const deadline = Date.now() + timeoutMs;
    while (await ignoreStatus(this.core.readNamespacedPod({ namespace, name }), 404)) {
      if (Date.now() > deadline)
        throw new Error(`pod ${namespace}/${name} still present ${timeoutMs} ms after deletion`);
      await sleep(100);
    }
  }

  /**
   * Creates a Node object (no kubelet behind it), so that tokens bound to pods with this `nodeName` carry
   * `kubernetes.io.node` claims.
   * @returns the node uid.
   */
  async createNode(name: string): Promise<string> {
    const node = await this.core.createNode({
      body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } },
    });
    return node.metadata?.uid as string;
  }

  /**
   * Binds a ServiceAccount to ClusterRole `system:auth-delegator` (TokenReview and SubjectAccessReview create), as the
   * data store needs for TokenReview mode.
   */
  async bindAuthDelegator(
    namespace: string,
    serviceAccount: string,
    bindingName = 'role-tokenreview-binding',
  ): Promise<void> {
    await this.#bindClusterRole(bindingName, 'system:auth-delegator', [
      { kind: 'ServiceAccount', name: serviceAccount, namespace },
    ]);
  }

  /**
   * Lets a ServiceAccount read the OIDC discovery document and JWKS. Rarely needed: the bootstrap policy already binds
   * `system:service-account-issuer-discovery` to every ServiceAccount (group `system:serviceaccounts`).
   */
  async bindIssuerDiscovery(
    namespace: string,
    serviceAccount: string,
    bindingName = `issuer-discovery-${namespace}-${serviceAccount}`,
  ): Promise<void> {
    await this.#bindClusterRole(bindingName, 'system:service-account-issuer-discovery', [
      { kind: 'ServiceAccount', name: serviceAccount, namespace },
    ]);
  }

  /**
   * Creates Role `name` in `namespace` with `rules` and a RoleBinding of the same name granting it to the given
   * ServiceAccounts: the namespaced RBAC a test grants (e.g. what SubjectAccessReview should allow, or the watch's
   * list/watch of pods).
   */
  async grantRole(
    namespace: string,
    name: string,
    rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[],
    serviceAccounts: { namespace: string; name: string }[],
  ): Promise<void> {
    await this.rbac.createNamespacedRole({ namespace, body: { metadata: { name }, rules } });
    await this.rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: serviceAccounts.map((sa) => ({ kind: 'ServiceAccount', ...sa })),
      },
    });
  }

  async #bindClusterRole(
    name: string,
    clusterRole: string,
    subjects: { kind: string; name: string; namespace?: string }[],
  ): Promise<void> {
    await ignoreStatus(
      this.rbac.createClusterRoleBinding({
        body: {
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
          subjects,
        },
      }),
      409,
    );
  }

  /** Mints a ServiceAccount token through the TokenRequest API, as the kubelet does for projected volumes. */
  async requestToken(params: TokenRequestParams): Promise<RequestedToken> {
    const { pod } = params;
    const result = await this.core.createNamespacedServiceAccountToken({
      namespace: params.namespace,
      name: params.serviceAccount,
      body: {
        spec: {
          audiences: params.audiences ?? [],
          expirationSeconds: params.expirationSeconds,
          boundObjectRef: pod ? { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid } : undefined,
        },
      },
    });
    const status = result.status;
    if (!status?.token) throw new Error('TokenRequest returned no token');
    return { token: status.token, expirationTimestamp: new Date(status.expirationTimestamp) };
  }

  /** Reviews a token (an empty `audiences` list means the API server's own audiences). */
  async tokenReview(token: string, audiences: string[] = []): Promise<V1TokenReviewStatus> {
    const review = await this.authn.createTokenReview({ body: { spec: { token, audiences } } });
    return review.status ?? {};
  }

  /**
   * Server-side applies objects (or a multi-document YAML string), creating or updating them.
   * @param options.dryRun `'All'` validates and admits without persisting anything.
   * @returns the objects as the server returned them.
   */
  async applyManifest(
    manifest: string | KubernetesObject[],
    options: { dryRun?: 'All'; fieldManager?: string } = {},
  ): Promise<KubernetesObject[]> {
    const objects: KubernetesObject[] =
      typeof manifest === 'string' ? (loadAllYaml(manifest).filter(Boolean) as KubernetesObject[]) : manifest;
    const applied: KubernetesObject[] = [];
    // In order: a Namespace must exist before the objects in it.
    for (const object of objects) {
      applied.push(
        await this.objects.patch(
          object,
          undefined,
          options.dryRun,
          options.fieldManager ?? 'kube-service-auth-testing',
          true,
          PatchStrategy.ServerSideApply,
        ),
      );
    }
    return applied;
  }
}
