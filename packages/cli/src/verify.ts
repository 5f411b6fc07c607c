import { existsSync } from 'node:fs';
import {
  createAuthenticate,
  createKubeAuth,
  decodeUnverified,
  loadConfig,
  REASONS,
  type Authentication,
  type KubeAuthConfig,
  type KubeAuthDependencies,
} from '@kube-service-auth/verifier';
import { audiences, relative, text, time } from './claims.js';

/** The flags of `verify`; each one overrides its `K8S_AUTH_*` variable. */
export interface VerifyFlags {
  mode?: string;
  audience?: string;
  issuer?: string;
  jwksUri?: string;
  allow?: string;
  allowGroup?: string;
  requirePodBinding?: boolean;
  leeway?: string;
  revocationSensitive?: boolean;
  kubeconfig?: string;
  context?: string;
}

const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The outcome with what was used to decide it. */
export interface VerifyResult {
  authentication: Authentication;
  config: KubeAuthConfig;
  /** How the CLI reached the cluster, for the explanation. */
  via: string;
}

/**
 * Verifies `token` as a service configured by `env` and `flags` would. Inside a pod (its ServiceAccount token mounted,
 * no --kubeconfig/--context) it uses the pod's credentials, as the library does. Elsewhere it talks to the cluster of
 * the kubeconfig's current context, as kubectl would: the issuer is discovered there unless given, and the key set is
 * read from the API server itself (`/openid/v1/jwks`), since the issuer's in-cluster name rarely resolves outside.
 */
export async function verifyToken(
  token: string,
  flags: VerifyFlags,
  baseEnv: Record<string, string | undefined> = process.env,
): Promise<VerifyResult> {
  const env: Record<string, string | undefined> = { ...baseEnv };
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) env[name] = value;
  };
  set('K8S_AUTH_MODE', flags.mode);
  set('K8S_AUTH_AUDIENCE', flags.audience);
  set('K8S_AUTH_ISSUER', flags.issuer);
  set('K8S_AUTH_JWKS_URI', flags.jwksUri);
  set('K8S_AUTH_ALLOWED_IDENTITIES', flags.allow);
  set('K8S_AUTH_ALLOWED_GROUPS', flags.allowGroup);
  set('K8S_AUTH_LEEWAY_SECONDS', flags.leeway);
  if (flags.requirePodBinding) env.K8S_AUTH_REQUIRE_POD_BINDING = 'true';
  set('K8S_AUTH_KUBECONFIG', flags.kubeconfig);
  // Without an allow-list the question is only "is this token authentic?": any ServiceAccount passes the policy.
  if (!env.K8S_AUTH_ALLOWED_IDENTITIES?.trim() && !env.K8S_AUTH_ALLOWED_GROUPS?.trim())
    env.K8S_AUTH_ALLOWED_IDENTITIES = '*';

  const inCluster =
    flags.kubeconfig === undefined &&
    flags.context === undefined &&
    !env.K8S_AUTH_KUBECONFIG &&
    existsSync(env.K8S_AUTH_TOKEN_FILE ?? IN_CLUSTER_TOKEN);
  const deps: KubeAuthDependencies = {};
  let via = 'the pod’s ServiceAccount token and CA';
  if (!inCluster) {
    // Loaded here, not at start-up: it brings @kubernetes/client-node (about 1.4 s), which `inspect` never needs.
    const { discoverIssuer, kubeconfigFetch, loadKubeConfig, serverOf } = await import('./kubeconfig.js');
    const kc = loadKubeConfig(env.K8S_AUTH_KUBECONFIG, flags.context);
    const server = serverOf(kc);
    const fetch = kubeconfigFetch(kc);
    deps.kubeConfig = kc;
    deps.fetch = fetch;
    via = `kubeconfig context ${kc.getCurrentContext()} (${server})`;
    if (!env.K8S_AUTH_ISSUER?.trim()) env.K8S_AUTH_ISSUER = await discoverIssuer(fetch, server);
    if (!env.K8S_AUTH_JWKS_URI?.trim()) {
      const issuers = env.K8S_AUTH_ISSUER.split(',').filter((s) => s.trim());
      env.K8S_AUTH_JWKS_URI = issuers.map(() => `${server}/openid/v1/jwks`).join(',');
    }
    // The kubeconfig (not a pod's files) is the credential; the library must not pick up a stray token file.
    env.K8S_AUTH_TOKEN_FILE ??= 'none';
    env.K8S_AUTH_CA_FILE ??= 'none';
  }
  const config = loadConfig(env);
  const auth = await createKubeAuth(config, deps);
  const authenticate = createAuthenticate({
    verifier: auth.verifier,
    policy: auth.policy,
    revocationSensitive: flags.revocationSensitive === true,
    scheme: 'raw',
    maxTokenBytes: config.maxTokenBytes,
  });
  return { authentication: await authenticate({ token }), config, via };
}

/** Why the token was refused, in the operator's terms: the reason, its answer, and what the token says instead. */
export function explain(result: VerifyResult, token: string, now: number = Date.now()): string[] {
  const auth = result.authentication;
  if (auth.ok) return [];
  const lines = [
    `REFUSED  ${auth.reason}  (${auth.kind}: HTTP ${auth.http.status}, gRPC ${auth.grpc.name})`,
    `  ${REASONS[auth.reason].description}`,
  ];
  if (auth.error.message !== REASONS[auth.reason].description) lines.push(`  ${auth.error.message}`);
  const cause = auth.error.cause;
  if (cause instanceof Error) lines.push(`  cause: ${cause.message}`);
  const claims = decodeUnverified(token)?.payload;
  const config = result.config;
  const said = (label: string, value: string) => lines.push(`  ${label.padEnd(18)}${value}`);
  switch (auth.reason) {
    case 'audience_mismatch':
      said('token audience:', claims ? audiences(claims).join(', ') || '(none)' : '?');
      said('expected one of:', config.audiences.join(', '));
      break;
    case 'issuer_mismatch':
      said('token issuer:', text(claims?.iss));
      said('expected one of:', config.issuers.map((i) => i.issuer).join(', '));
      break;
    case 'token_expired': {
      const exp = claims && time(claims, 'exp');
      if (exp !== undefined)
        said('expired:', `${new Date(exp).toISOString()} (${relative(exp, now)}; leeway ${config.leewaySeconds} s)`);
      break;
    }
    case 'token_not_yet_valid': {
      const from = claims && (time(claims, 'nbf') ?? time(claims, 'iat'));
      if (from)
        said(
          'valid from:',
          `${new Date(from).toISOString()} (${relative(from, now)}; leeway ${config.leewaySeconds} s)`,
        );
      break;
    }
    case 'identity_not_allowed':
      said('caller:', auth.identity?.username ?? '?');
      said('groups:', auth.identity?.groups.join(', ') ?? '');
      said('allowed:', [...config.allow, ...config.allowGroups.map((g) => `group ${g}`)].join(', '));
      break;
    default:
      break;
  }
  lines.push(`  checked in ${config.mode} mode via ${result.via}`);
  return lines;
}
