import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { locateBinaries, type ControlPlaneBinaries } from './binaries.js';
import { httpsRequest } from './https.js';
import { generatePki, generateSigningKey, type Pki, type SigningKey, type SigningKeyType } from './pki.js';
import { freePorts } from './ports.js';
import { ManagedProcess, onProcessExit, removeDirOnExit, removeDirSync, tailFile } from './processes.js';
import { TestCluster, type ControlPlaneConnection } from './test-cluster.js';

/** A public key the API server should accept tokens from: a generated key pair or the path of a PEM file. */
export type PublicKeyRef = SigningKey | string;

/** Options of {@link ControlPlane.start}. */
export interface ControlPlaneOptions {
  /** `--api-audiences`; defaults to the issuer, as in kube-apiserver itself. */
  apiAudiences?: string[];
  /** Type of the initial signing key (default `rsa`, RS256). */
  signingKeyType?: SigningKeyType;
  /** Public keys trusted in addition to the signing key (`--service-account-key-file`). */
  extraPublicKeys?: PublicKeyRef[];
  /** Appended to the kube-apiserver command line on every (re)start. */
  extraApiServerArgs?: string[];
  /** Skip binary discovery. */
  binaries?: ControlPlaneBinaries;
  /** How long each process may take to become healthy (default 120 s). */
  readyTimeoutMs?: number;
  /** Keep the temp dir (logs, etcd data, keys) after stop; also enabled by `KSA_KEEP_CONTROL_PLANE_DIR=1`. */
  keepTempDir?: boolean;
}

/** Options of {@link ControlPlane.restartApiServer}. */
export interface RestartOptions {
  /** New signing key, or `'new'` to generate an RSA one. Default: keep the current key. */
  signingKey?: SigningKey | 'new';
  /**
   * Public keys trusted besides the signing key, replacing the current set. Default: unchanged, except that when the
   * signing key changes the previous signing key joins the set, so that tokens it signed stay valid (key rotation).
   * Pass `[]` to stop trusting old keys.
   */
  extraPublicKeys?: PublicKeyRef[];
}

/**
 * An address in TEST-NET-1 (RFC 5737): never routed, and nothing here dials it since the endpoint reconciler is off.
 * kube-apiserver needs a non-loopback advertise address and would otherwise probe the host's interfaces.
 */
export const ADVERTISE_ADDRESS = '192.0.2.1';

const publicKeyFile = (key: PublicKeyRef): string => (typeof key === 'string' ? key : key.publicKeyFile);
const b64 = (pem: string): string => Buffer.from(pem).toString('base64');

/**
 * A real etcd + kube-apiserver pair on loopback, with a private CA, admin client credentials and a ServiceAccount
 * signing key generated per instance. No controller-manager, scheduler or kubelet runs: pods never start, namespaces
 * are never finalised, and the `default` ServiceAccounts are not created.
 */
export class ControlPlane {
  /** Temp dir holding keys, certs, etcd data and logs; removed on {@link stop}. */
  readonly dir: string;
  readonly port: number;
  /** `https://127.0.0.1:<port>`. */
  readonly url: string;
  /** `--service-account-issuer`, equal to {@link url}, so that `<issuer>/.well-known/openid-configuration` resolves. */
  readonly issuer: string;
  readonly apiAudiences: readonly string[];
  readonly caFile: string;
  readonly caPem: string;
  /** Admin (`system:masters`) kubeconfig with embedded credentials. */
  readonly kubeconfigPath: string;
  readonly etcdLogPath: string;
  /** Appended to across restarts, with a banner line per start. */
  readonly apiServerLogPath: string;
  /** Admin client certificate and key (PEM), for raw HTTPS requests. */
  readonly adminCredentials: { cert: string; key: string };

  readonly #binaries: ControlPlaneBinaries;
  readonly #pki: Pki;
  readonly #etcdUrl: string;
  readonly #readyTimeoutMs: number;
  readonly #keepTempDir: boolean;
  readonly #extraArgs: readonly string[];
  #kubeconfig = '';
  #signingKey: SigningKey;
  #extraPublicKeys: PublicKeyRef[];
  #etcd: ManagedProcess | undefined;
  #apiServer: ManagedProcess | undefined;
  #apiServerStarts = 0;
  #keyCounter = 0;
  #unregisterExit: () => void;
  #cancelDirRemoval: () => void;
  #stopped = false;

  private constructor(init: {
    dir: string;
    port: number;
    etcdPort: number;
    binaries: ControlPlaneBinaries;
    pki: Pki;
    signingKey: SigningKey;
    options: ControlPlaneOptions;
    cancelDirRemoval: () => void;
  }) {
    const { dir, port, options } = init;
    this.dir = dir;
    this.port = port;
    this.url = `https://127.0.0.1:${port}`;
    this.issuer = this.url;
    this.apiAudiences = options.apiAudiences ?? [this.issuer];
    this.caFile = init.pki.caCertFile;
    this.caPem = init.pki.caPem;
    this.kubeconfigPath = join(dir, 'admin.kubeconfig');
    this.etcdLogPath = join(dir, 'etcd.log');
    this.apiServerLogPath = join(dir, 'kube-apiserver.log');
    this.adminCredentials = { cert: init.pki.adminCertPem, key: init.pki.adminKeyPem };
    this.#binaries = init.binaries;
    this.#pki = init.pki;
    this.#etcdUrl = `http://127.0.0.1:${init.etcdPort}`;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 120_000;
    this.#keepTempDir = options.keepTempDir ?? process.env.KSA_KEEP_CONTROL_PLANE_DIR === '1';
    this.#extraArgs = options.extraApiServerArgs ?? [];
    this.#signingKey = init.signingKey;
    this.#extraPublicKeys = [...(options.extraPublicKeys ?? [])];
    this.#cancelDirRemoval = init.cancelDirRemoval;
    if (this.#keepTempDir) this.#cancelDirRemoval();
    // Registered after the dir removal, so it runs before it.
    this.#unregisterExit = onProcessExit(() => {
      this.#apiServer?.killNow();
      this.#etcd?.killNow();
    });
  }

  /**
   * Builds or finds the binaries, then starts etcd and kube-apiserver and waits until `/readyz` answers 200.
   * @throws with the tail of the failing process's log; everything started so far is cleaned up.
   */
  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const binaries = options.binaries ?? (await locateBinaries());
    const dir = await mkdtemp(join(tmpdir(), 'ksa-control-plane-'));
    const cancelDirRemoval = removeDirOnExit(dir);
    let plane: ControlPlane | undefined;
    try {
      const [pki, signingKey, ports] = await Promise.all([
        generatePki(dir),
        generateSigningKey(dir, 'sa-0', options.signingKeyType),
        freePorts(3),
      ]);
      const [port, etcdPort, etcdPeerPort] = ports as [number, number, number];
      plane = new ControlPlane({ dir, port, etcdPort, binaries, pki, signingKey, options, cancelDirRemoval });
      await plane.#writeKubeconfig();
      await plane.#startEtcd(etcdPeerPort);
      await plane.#launchApiServer();
      return plane;
    } catch (error) {
      if (plane) await plane.stop();
      else {
        cancelDirRemoval();
        removeDirSync(dir);
      }
      throw error;
    }
  }

  /** The key currently signing new tokens. */
  get signingKey(): SigningKey {
    return this.#signingKey;
  }

  /** All `--service-account-key-file` values of the running (or next) API server. */
  get publicKeyFiles(): string[] {
    return [this.#signingKey.publicKeyFile, ...this.#extraPublicKeys.map(publicKeyFile)];
  }

  /** Pids, for connection checks; `undefined` while a process is stopped. */
  get pids(): { etcd: number | undefined; apiServer: number | undefined } {
    return {
      etcd: this.#etcd?.running ? this.#etcd.pid : undefined,
      apiServer: this.#apiServer?.running ? this.#apiServer.pid : undefined,
    };
  }

  /** Whether kube-apiserver is currently running. */
  get apiServerRunning(): boolean {
    return this.#apiServer?.running ?? false;
  }

  /**
   * What a test process needs to use this control plane: plain JSON, to hand to other workers (vitest's `provide`, or
   * the {@link CONNECTION_ENV} environment variable) and to pass to {@link TestCluster.connect}.
   */
  get connection(): ControlPlaneConnection {
    return {
      url: this.url,
      issuer: this.issuer,
      apiAudiences: [...this.apiAudiences],
      caPem: this.caPem,
      adminKubeconfig: this.#kubeconfig,
    };
  }

  /** Test helpers (namespaces, ServiceAccounts, pods, tokens) over this control plane, as admin. */
  cluster(): TestCluster {
    return TestCluster.connect(this.connection);
  }

  /** A fresh admin `KubeConfig`. */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(this.#kubeconfig);
    return kc;
  }

  /** A `KubeConfig` that authenticates with a bearer token (e.g. a ServiceAccount token) and trusts the CA. */
  kubeConfigForToken(token: string): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'ksa-test', server: this.url, caData: b64(this.caPem), skipTLSVerify: false }],
      users: [{ name: 'token', token }],
      contexts: [{ name: 'token@ksa-test', cluster: 'ksa-test', user: 'token' }],
      currentContext: 'token@ksa-test',
    });
    return kc;
  }

  /** Generates another signing key pair in the temp dir, e.g. to pass to {@link restartApiServer}. */
  generateSigningKey(type: SigningKeyType = 'rsa'): Promise<SigningKey> {
    return generateSigningKey(this.dir, `sa-${++this.#keyCounter}`, type);
  }

  /**
   * Stops kube-apiserver and starts it again on the same port against the same etcd, optionally with another signing
   * key and set of trusted public keys.
   */
  async restartApiServer(options: RestartOptions = {}): Promise<void> {
    this.#assertNotStopped();
    const previous = this.#signingKey;
    const next = options.signingKey === 'new' ? await this.generateSigningKey() : (options.signingKey ?? previous);
    if (options.extraPublicKeys) this.#extraPublicKeys = [...options.extraPublicKeys];
    else if (next !== previous) this.#extraPublicKeys = [previous, ...this.#extraPublicKeys];
    // Never list the signing key twice.
    this.#extraPublicKeys = this.#extraPublicKeys.filter((key) => publicKeyFile(key) !== next.publicKeyFile);
    this.#signingKey = next;
    await this.stopApiServer();
    await this.#launchApiServer();
  }

  /** Stops kube-apiserver (etcd keeps running), for outage tests. */
  async stopApiServer(): Promise<void> {
    await this.#apiServer?.stop(10_000);
    this.#apiServer = undefined;
  }

  /** Starts kube-apiserver again after {@link stopApiServer}, on the same port; no-op if it is running. */
  async startApiServer(): Promise<void> {
    this.#assertNotStopped();
    if (!this.apiServerRunning) await this.#launchApiServer();
  }

  /** Stops both processes and removes the temp dir. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      await this.stopApiServer();
      await this.#etcd?.stop();
      this.#etcd = undefined;
    } finally {
      this.#unregisterExit();
      this.#cancelDirRemoval();
      if (this.#keepTempDir) process.stderr.write(`[control-plane] kept ${this.dir}\n`);
      else removeDirSync(this.dir);
    }
  }

  #assertNotStopped(): void {
    if (this.#stopped) throw new Error('control plane already stopped');
  }

  async #writeKubeconfig(): Promise<void> {
    // JSON is valid YAML, and kubectl reads it too.
    this.#kubeconfig = JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'ksa-test', cluster: { server: this.url, 'certificate-authority-data': b64(this.caPem) } }],
        users: [
          {
            name: 'admin',
            user: {
              'client-certificate-data': b64(this.adminCredentials.cert),
              'client-key-data': b64(this.adminCredentials.key),
            },
          },
        ],
        contexts: [{ name: 'admin@ksa-test', context: { cluster: 'ksa-test', user: 'admin' } }],
        'current-context': 'admin@ksa-test',
      },
      null,
      2,
    );
    await writeFile(this.kubeconfigPath, this.#kubeconfig, { mode: 0o600 });
  }

  async #startEtcd(peerPort: number): Promise<void> {
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    this.#etcd = await ManagedProcess.spawn(
      this.#binaries.etcd,
      [
        '--name=ksa-test',
        `--data-dir=${join(this.dir, 'etcd-data')}`,
        `--listen-client-urls=${this.#etcdUrl}`,
        `--advertise-client-urls=${this.#etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=ksa-test=${peerUrl}`,
        '--initial-cluster-state=new',
        // Throwaway data: durability only costs time.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      this.etcdLogPath,
    );
    await this.#waitUntil('etcd', this.#etcd, this.etcdLogPath, async () => {
      const res = await fetch(`${this.#etcdUrl}/health`, { signal: AbortSignal.timeout(2000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    });
  }

  #apiServerArgs(): string[] {
    const pki = this.#pki;
    return [
      `--etcd-servers=${this.#etcdUrl}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${this.port}`,
      `--advertise-address=${ADVERTISE_ADDRESS}`,
      // The reconciler would publish the advertise address in the `kubernetes` Endpoints: meaningless here.
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.serverCertFile}`,
      `--tls-private-key-file=${pki.serverKeyFile}`,
      // Only used if the server wants to write certs; keeps it out of /var/run/kubernetes.
      `--cert-dir=${join(this.dir, 'apiserver-certs')}`,
      `--client-ca-file=${pki.caCertFile}`,
      '--authorization-mode=RBAC',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      // No controller-manager creates `default` ServiceAccounts or token volumes; pods set everything explicitly.
      '--disable-admission-plugins=ServiceAccount',
      `--service-account-issuer=${this.issuer}`,
      `--service-account-jwks-uri=${this.issuer}/openid/v1/jwks`,
      `--service-account-signing-key-file=${this.#signingKey.privateKeyFile}`,
      ...this.publicKeyFiles.map((file) => `--service-account-key-file=${file}`),
      `--api-audiences=${this.apiAudiences.join(',')}`,
      '--profiling=false',
      ...this.#extraArgs,
    ];
  }

  async #launchApiServer(): Promise<void> {
    const n = ++this.#apiServerStarts;
    const args = this.#apiServerArgs();
    const banner = `=== kube-apiserver start #${n} at ${new Date().toISOString()}: ${args.join(' ')}`;
    const apiServer = await ManagedProcess.spawn(this.#binaries.kubeApiServer, args, this.apiServerLogPath, banner);
    this.#apiServer = apiServer;
    await this.#waitUntil('kube-apiserver', apiServer, this.apiServerLogPath, async () => {
      const res = await httpsRequest(`${this.url}/readyz`, {
        ca: this.caPem,
        ...this.adminCredentials,
        timeoutMs: 5000,
      });
      return res.status === 200;
    });
  }

  /** Polls `probe` until it returns true; fails fast if the process exits, with its log tail. */
  async #waitUntil(name: string, proc: ManagedProcess, logPath: string, probe: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (!proc.running) {
        throw new Error(
          `${name} exited (${String(proc.exitCode)}) before becoming ready; log tail:\n${tailFile(logPath)}`,
        );
      }
      try {
        if (await probe()) return;
      } catch (error) {
        lastError = error;
      }
      await Promise.race([sleep(150), proc.exited]);
    }
    throw new Error(
      `${name} not ready after ${this.#readyTimeoutMs} ms (last probe error: ${String(lastError)}); log tail:\n${tailFile(logPath)}`,
    );
  }
}
