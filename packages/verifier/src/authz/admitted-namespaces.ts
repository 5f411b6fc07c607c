/**
 * The namespaces an allow-list can admit callers from, for the revocation watch (see {@link BoundObjectWatch}): `api:*`
 * and `system:serviceaccount:api:api` admit from `api`, the group `system:serviceaccounts:api` too. Undefined when the
 * list admits any namespace (`*`, the groups `system:serviceaccounts` or `system:authenticated`): then the namespaces
 * to watch must be configured.
 */
export function admittedNamespaces(
  allow: readonly string[],
  allowGroups: readonly string[] = [],
): string[] | undefined {
  const namespaces = new Set<string>();
  for (const raw of allow) {
    const entry = raw.trim();
    if (entry === '*') return undefined;
    const ns = (
      entry.startsWith('system:serviceaccount:') ? entry.slice('system:serviceaccount:'.length) : entry
    ).split(':')[0];
    if (ns) namespaces.add(ns);
  }
  for (const raw of allowGroups) {
    const match = /^system:serviceaccounts:([^:]+)$/.exec(raw.trim());
    if (!match?.[1]) return undefined;
    namespaces.add(match[1]);
  }
  return [...namespaces];
}
