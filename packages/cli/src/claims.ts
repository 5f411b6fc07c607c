/** Readers of a token's claims for the CLI's explanations; the token is decoded by the verifier's `decodeUnverified`. */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `aud` as a list (a string or an array of strings). */
export function audiences(payload: Record<string, unknown>): string[] {
  const aud = payload.aud;
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.map(String) : [];
}

/** A NumericDate claim as ms, or undefined. */
export function time(payload: Record<string, unknown>, claim: 'exp' | 'iat' | 'nbf'): number | undefined {
  const value = payload[claim];
  return typeof value === 'number' && Number.isFinite(value) ? value * 1000 : undefined;
}

/** "in 9 min", "3 h ago": how far `at` is from `now`. */
export function relative(at: number, now: number): string {
  const seconds = Math.round((at - now) / 1000);
  const abs = Math.abs(seconds);
  const span =
    abs < 120
      ? `${abs} s`
      : abs < 7200
        ? `${Math.round(abs / 60)} min`
        : abs < 172_800
          ? `${Math.round(abs / 3600)} h`
          : `${Math.round(abs / 86_400)} d`;
  return seconds >= 0 ? `in ${span}` : `${span} ago`;
}

/** The `kubernetes.io` bindings: namespace, ServiceAccount, pod, node, secret. */
export function bindings(
  payload: Record<string, unknown>,
): Record<string, { name?: unknown; uid?: unknown } | string | undefined> {
  const k8s = payload['kubernetes.io'];
  if (!isObject(k8s)) return {};
  const ref = (v: unknown) => (isObject(v) ? { name: v.name, uid: v.uid } : undefined);
  return {
    namespace: typeof k8s.namespace === 'string' ? k8s.namespace : undefined,
    serviceaccount: ref(k8s.serviceaccount),
    pod: ref(k8s.pod),
    node: ref(k8s.node),
    secret: ref(k8s.secret),
  };
}

/** A claim for display: strings as they are, anything else as JSON, `(none)` when absent. */
export function text(value: unknown): string {
  if (value === undefined || value === null) return '(none)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}
