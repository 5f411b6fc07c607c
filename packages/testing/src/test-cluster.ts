import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1TokenReviewStatus } from '@kubernetes/client-node';
import { ClusterClient, type RequestedToken } from './cluster.js';
import { writeInClusterCredentials, type InClusterCredentials } from './in-cluster.js';
import { removeDirOnExit } from './processes.js';
import { ProjectedToken } from './projected-token.js';

/**
 * Plain-JSON connection details of a running control plane ({@link ControlPlane.connection}): enough for any process
 * to create objects and mint tokens on it.
 */
export interface ControlPlaneConnection {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  /** The ServiceAccount token issuer (equal to `url`). */
  issuer: string;
  /** The API server's own audiences (`--api-audiences`). */
  apiAudiences: string[];
  /** The cluster CA (PEM). */
  caPem: string;
  /** An admin (`system:masters`) kubeconfig, as a string. */
  adminKubeconfig: string;
}

/** The environment variable through which a test runner's global setup hands {@link ControlPlaneConnection} to workers. */
export const CONNECTION_ENV = 'KSA_TESTING_CONTROL_PLANE';

/** Options of the token-minting methods. */
export interface TokenOptions {
  /** Audiences of the token; default: the API server's own (`[]` in the TokenRequest). */
  audiences?: string[];
  /** Lifetime in seconds, at least 600 (the API server refuses less); default 3600. */
  expirationSeconds?: number;
}

/** Options of {@link TestPod.projectToken}. */
export interface ProjectedTokenOptions extends TokenOptions {
  /** The volume directory; default a fresh directory in the kit's temp dir. */
  dir?: string;
  /** The file name in the volume (`path` of the projected source); default `token`. */
  path?: string;
}

const DEFAULT_LIFETIME = 3600;
const randomSuffix = (): string => randomBytes(3).toString('hex');

/**
 * The test-facing side of a control plane: namespaces, ServiceAccounts, pods and their tokens, over an admin
 * connection. Cheap to create; any number of test files or workers may connect to one control plane at once. Objects
 * live in namespaces with random suffixes, so that tests do not see each other's.
 */
export class TestCluster {
  /** The object-level helpers (and the raw `@kubernetes/client-node` APIs as `client.core`, `client.rbac`…). */
  readonly client: ClusterClient;
  #tempDir: Promise<string> | undefined;

  private constructor(readonly connection: ControlPlaneConnection) {
    this.client = new ClusterClient(this.kubeConfig());
  }

  /** Connects to a running control plane. */
  static connect(connection: ControlPlaneConnection): TestCluster {
    return new TestCluster(connection);
  }

  /**
   * Connects to the control plane described by {@link CONNECTION_ENV}, as set by the kit's global setup.
   * @throws naming the variable and the setup to add when it is not set.
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): TestCluster {
    const value = env[CONNECTION_ENV];
    if (!value) {
      throw new Error(
        `${CONNECTION_ENV} is not set: start a control plane in the test runner's global setup ` +
          `(vitest: globalSetup exporting setup from '@kube-service-auth/testing/global-setup'), or use ControlPlane.start()`,
      );
    }
    return new TestCluster(JSON.parse(value) as ControlPlaneConnection);
  }

  /** The API server, `https://127.0.0.1:<port>`. */
  get url(): string {
    return this.connection.url;
  }

  /** The ServiceAccount token issuer, as a verifier should be configured with (`K8S_AUTH_ISSUER`). */
  get issuer(): string {
    return this.connection.issuer;
  }

  /** The cluster CA (PEM), which serves the API server's certificate. */
  get caPem(): string {
    return this.connection.caPem;
  }

  /** A fresh admin `KubeConfig`. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.connection.adminKubeconfig);
    return kc;
  }

  /**
   * Creates a namespace named `<prefix>-<random>` (default prefix `test`), for one test or one file.
   * @param name an exact name instead (created unless it exists).
   */
  async createNamespace(options: { prefix?: string; name?: string } = {}): Promise<TestNamespace> {
    const name = options.name ?? `${options.prefix ?? 'test'}-${randomSuffix()}`;
    await this.client.applyNamespace(name);
    return new TestNamespace(this, name);
  }

  /**
   * Creates a Node object (no kubelet behind it), for pods whose tokens should carry `kubernetes.io.node` claims.
   * @param name default `node-<random>`.
   */
  async createNode(name = `node-${randomSuffix()}`): Promise<{ name: string; uid: string }> {
    return { name, uid: await this.client.createNode(name) };
  }

  /** Asks the API server about a token (TokenReview), for `audiences` (default: its own). */
  reviewToken(token: string, audiences: string[] = []): Promise<V1TokenReviewStatus> {
    return this.client.tokenReview(token, audiences);
  }

  /** A directory for token volumes and credentials, removed when the process exits (even by SIGKILL). */
  async tempDir(): Promise<string> {
    this.#tempDir ??= mkdtemp(join(tmpdir(), 'ksa-testing-')).then((dir) => {
      removeDirOnExit(dir);
      return dir;
    });
    return this.#tempDir;
  }
}

/** A namespace created by {@link TestCluster.createNamespace}. */
export class TestNamespace {
  constructor(
    readonly cluster: TestCluster,
    readonly name: string,
  ) {}

  /** Creates a ServiceAccount in this namespace. */
  async createServiceAccount(name: string): Promise<TestServiceAccount> {
    const uid = await this.cluster.client.createServiceAccount(this.name, name);
    return new TestServiceAccount(this, name, uid);
  }

  /** Creates several ServiceAccounts at once: `const [api, other] = await ns.createServiceAccounts('api', 'other')`. */
  async createServiceAccounts<const Names extends readonly string[]>(
    ...names: Names
  ): Promise<{ -readonly [K in keyof Names]: TestServiceAccount }> {
    return (await Promise.all(names.map((name) => this.createServiceAccount(name)))) as {
      -readonly [K in keyof Names]: TestServiceAccount;
    };
  }

  /**
   * Creates a Pod object running as `serviceAccount`. It never runs (no scheduler, no kubelet); it exists so that tokens
   * can be bound to it and refused once it is deleted.
   * @param options.nodeName binds the pod to a node (see {@link TestCluster.createNode}); its tokens then carry
   * `kubernetes.io.node`.
   */
  async createPod(
    name: string,
    options: { serviceAccount: TestServiceAccount | string; nodeName?: string },
  ): Promise<TestPod> {
    const serviceAccount =
      typeof options.serviceAccount === 'string' ? options.serviceAccount : options.serviceAccount.name;
    const pod = new TestPod(this, name, serviceAccount, options.nodeName);
    await pod.recreate();
    return pod;
  }

  /**
   * Deletes the namespace. Without a controller-manager it stays `Terminating` with its objects, which still
   * authenticate: delete pods or ServiceAccounts themselves to test revocation.
   */
  async delete(): Promise<void> {
    await this.cluster.client.core.deleteNamespace({ name: this.name }).catch(() => undefined);
  }
}

/** A ServiceAccount created by {@link TestNamespace.createServiceAccount}. */
export class TestServiceAccount {
  #uid: string;

  constructor(
    readonly namespace: TestNamespace,
    readonly name: string,
    uid: string,
  ) {
    this.#uid = uid;
  }

  /** Changes when the ServiceAccount is recreated; tokens carry it as `kubernetes.io.serviceaccount.uid`. */
  get uid(): string {
    return this.#uid;
  }

  /** `system:serviceaccount:<namespace>:<name>`, the name a verifier's policy allows. */
  get username(): string {
    return `system:serviceaccount:${this.namespace.name}:${this.name}`;
  }

  /** Mints a token not bound to any pod (TokenRequest), e.g. for a caller outside the cluster's pods. */
  async token(options: TokenOptions = {}): Promise<string> {
    return (await this.requestToken(options)).token;
  }

  /** Like {@link token}, with the expiry the API server chose. */
  requestToken(options: TokenOptions = {}): Promise<RequestedToken> {
    return this.namespace.cluster.client.requestToken({
      namespace: this.namespace.name,
      serviceAccount: this.name,
      audiences: options.audiences,
      expirationSeconds: options.expirationSeconds ?? DEFAULT_LIFETIME,
    });
  }

  /**
   * Binds this ServiceAccount to ClusterRole `system:auth-delegator` (TokenReview and SubjectAccessReview), which a
   * service needs to check tokens with TokenReview.
   */
  async grantAuthDelegator(): Promise<void> {
    await this.namespace.cluster.client.bindAuthDelegator(
      this.namespace.name,
      this.name,
      `auth-delegator-${this.namespace.name}-${this.name}`,
    );
  }

  /** Deletes the ServiceAccount: its tokens, bound or not, stop authenticating with TokenReview. */
  async delete(): Promise<void> {
    await this.namespace.cluster.client.deleteServiceAccount(this.namespace.name, this.name);
  }

  /** Deletes it and creates it again under the same name, with a new uid: the old tokens stay refused. */
  async recreate(): Promise<void> {
    await this.delete();
    this.#uid = await this.namespace.cluster.client.createServiceAccount(this.namespace.name, this.name);
  }
}

/** A Pod object created by {@link TestNamespace.createPod}. */
export class TestPod {
  #uid = '';

  constructor(
    readonly namespace: TestNamespace,
    readonly name: string,
    readonly serviceAccount: string,
    readonly nodeName: string | undefined,
  ) {}

  /** Changes when the pod is recreated; pod-bound tokens carry it as `kubernetes.io.pod.uid`. */
  get uid(): string {
    if (!this.#uid) throw new Error(`pod ${this.namespace.name}/${this.name} is deleted`);
    return this.#uid;
  }

  /** Mints a token bound to this pod, as the kubelet does for a projected volume. */
  async token(options: TokenOptions = {}): Promise<string> {
    return (await this.requestToken(options)).token;
  }

  /** Like {@link token}, with the expiry the API server chose. */
  requestToken(options: TokenOptions = {}): Promise<RequestedToken> {
    return this.namespace.cluster.client.requestToken({
      namespace: this.namespace.name,
      serviceAccount: this.serviceAccount,
      audiences: options.audiences,
      expirationSeconds: options.expirationSeconds ?? DEFAULT_LIFETIME,
      pod: { name: this.name, uid: this.uid },
    });
  }

  /**
   * Writes a projected `serviceAccountToken` volume the way the kubelet does (atomic-writer layout, a symlink swap per
   * rotation) and keeps it fresh at 80% of the token's lifetime; `rotate()` rotates it at once. After
   * {@link recreate}, new tokens are bound to the new pod, as with a replacement pod mounting the same volume.
   */
  async projectToken(options: ProjectedTokenOptions = {}): Promise<ProjectedToken> {
    const dir =
      options.dir ??
      join(await this.namespace.cluster.tempDir(), `${this.namespace.name}-${this.name}-${randomSuffix()}`);
    const volume = new ProjectedToken(dir, options.path ?? 'token', () => this.requestToken(options));
    await volume.start();
    return volume;
  }

  /**
   * What the service running in this pod would find mounted: its ServiceAccount token (for the API server's audience,
   * rotated), the cluster CA and its namespace, with a kubeconfig and environment variables pointing at them.
   */
  async inClusterCredentials(options: { dir?: string } = {}): Promise<InClusterCredentials> {
    const cluster = this.namespace.cluster;
    const baseDir =
      options.dir ?? join(await cluster.tempDir(), `${this.namespace.name}-${this.name}-${randomSuffix()}`);
    const token = await this.projectToken({ dir: join(baseDir, 'serviceaccount'), path: 'token' });
    return writeInClusterCredentials({
      baseDir,
      server: cluster.url,
      issuer: cluster.issuer,
      caPem: cluster.caPem,
      namespace: this.namespace.name,
      token,
    });
  }

  /** Deletes the pod at once (grace period 0); its bound tokens stop authenticating with TokenReview. */
  async delete(): Promise<void> {
    await this.namespace.cluster.client.deletePod(this.namespace.name, this.name);
    this.#uid = '';
  }

  /** Deletes the pod (if present) and creates it again under the same name, with a new uid. */
  async recreate(): Promise<void> {
    if (this.#uid) await this.delete();
    this.#uid = await this.namespace.cluster.client.createPod(this.namespace.name, this.name, this.serviceAccount, {
      nodeName: this.nodeName,
    });
  }
}
