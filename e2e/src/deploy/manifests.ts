import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

/** The repository root; this module sits at the same depth in `src/` and in `dist/`. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The one source of truth for what runs in a cluster: plain YAML, applied in file-name order. */
export const MANIFEST_PATH = join(REPO_ROOT, 'deploy/manifests');

/** One object of the manifests and the file it came from. */
export interface ManifestEntry {
  file: string;
  object: KubernetesObject;
}

/** Reads every `*.yaml` in `dir` in name order (namespaces first), one entry per non-empty document. */
export function loadManifests(dir: string = MANIFEST_PATH): ManifestEntry[] {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const entries: ManifestEntry[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const object = doc.toJS() as KubernetesObject | null;
      if (object) entries.push({ file, object });
    }
  }
  return entries;
}

/** `namespace/name` of an object (just `name` for cluster-scoped ones). */
export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name}` : String(name);
}

/** The Deployments of the manifests. */
export function deployments(entries: readonly ManifestEntry[]): V1Deployment[] {
  return entries.filter((e) => e.object.kind === 'Deployment').map((e) => e.object as V1Deployment);
}

/** Every container image the Deployments use. */
export function imagesOf(entries: readonly ManifestEntry[]): string[] {
  const images = deployments(entries).flatMap((d) =>
    (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? ''),
  );
  return [...new Set(images)].sort();
}
