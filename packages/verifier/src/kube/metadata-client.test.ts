import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { MetadataRequestError } from '../errors.js';
import { kubeMetadataClient, parseWatchLine, toObjectMeta, type WatchEvent } from './metadata-client.js';

let server: Server | undefined;
afterEach(async () => {
  const running = server;
  server = undefined;
  if (!running) return;
  running.closeAllConnections();
  await new Promise((resolve) => running.close(resolve));
});

/** A plain-HTTP stand-in for the API server on loopback, answering with `handler`. */
async function serve(
  handler: (path: string, headers: IncomingHttpHeaders, res: ServerResponse) => void,
): Promise<KubeConfig> {
  server = createServer((req, res) => handler(req.url ?? '', req.headers, res));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

const pod = (name: string, uid: string, extra: Record<string, unknown> = {}) => ({
  kind: 'PartialObjectMetadata',
  metadata: {
    name,
    uid,
    creationTimestamp: '2026-06-01T12:00:00Z',
    resourceVersion: '7',
    labels: { big: 'x'.repeat(100) },
    ...extra,
  },
});

describe('toObjectMeta / parseWatchLine', () => {
  it('keeps name, uid and the two timestamps, and nothing else', () => {
    expect(toObjectMeta(pod('a', 'u1', { deletionTimestamp: '2026-06-01T12:00:30Z' }))).toEqual({
      name: 'a',
      uid: 'u1',
      creationTimestamp: Date.UTC(2026, 5, 1, 12, 0, 0),
      deletionTimestamp: Date.UTC(2026, 5, 1, 12, 0, 30),
    });
    expect(toObjectMeta({ metadata: { name: 'a' } })).toBeUndefined();
  });

  it('reads object events, bookmarks and Status errors; ignores garbage', () => {
    expect(parseWatchLine(JSON.stringify({ type: 'DELETED', object: pod('a', 'u1') }))).toMatchObject({
      type: 'DELETED',
      object: { uid: 'u1' },
      resourceVersion: '7',
    });
    expect(
      parseWatchLine(JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } })),
    ).toEqual({ type: 'BOOKMARK', resourceVersion: '9' });
    expect(
      parseWatchLine(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old' } })),
    ).toEqual({
      type: 'ERROR',
      code: 410,
      message: 'too old',
    });
    expect(parseWatchLine('{not json')).toBeUndefined();
    expect(parseWatchLine(JSON.stringify({ type: 'ADDED', object: {} }))).toBeUndefined();
  });
});

describe('kubeMetadataClient', () => {
  it('lists and gets as PartialObjectMetadata with the kubeconfig credentials; 404 is undefined', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const kc = await serve((path, headers, res) => {
      seen.push(headers);
      if (path === '/api/v1/namespaces/api/pods') {
        res.end(
          JSON.stringify({
            kind: 'PartialObjectMetadataList',
            metadata: { resourceVersion: '42' },
            items: [pod('a', 'u1'), pod('b', 'u2')],
          }),
        );
      } else if (path === '/api/v1/namespaces/api/pods/a') res.end(JSON.stringify(pod('a', 'u1')));
      else {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: 'Status', code: 404 }));
      }
    });
    const client = kubeMetadataClient(kc);
    const list = await client.list('/api/v1/namespaces/api/pods', AbortSignal.timeout(2000));
    expect(list.resourceVersion).toBe('42');
    expect(list.items.map((i) => i.uid)).toEqual(['u1', 'u2']);
    expect(await client.get('/api/v1/namespaces/api/pods/a', AbortSignal.timeout(2000))).toMatchObject({ uid: 'u1' });
    expect(await client.get('/api/v1/namespaces/api/pods/zz', AbortSignal.timeout(2000))).toBeUndefined();
    expect(seen[0]?.accept).toMatch(/^application\/json;as=PartialObjectMetadataList;g=meta\.k8s\.io;v=v1/);
    expect(seen[1]?.accept).toMatch(/^application\/json;as=PartialObjectMetadata;g=meta\.k8s\.io;v=v1/);
    expect(seen[0]?.authorization).toBe('Bearer secret-token');
  });

  it('streams watch events with resourceVersion and bookmarks requested, and resolves when the server ends the watch', async () => {
    let query = '';
    const kc = await serve((path, _headers, res) => {
      query = path;
      res.write(`${JSON.stringify({ type: 'ADDED', object: pod('a', 'u1') })}\n`);
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '50' } } })}\n`);
      res.end(`${JSON.stringify({ type: 'DELETED', object: pod('a', 'u1') })}\n`);
    });
    const events: WatchEvent[] = [];
    let opened = false;
    await kubeMetadataClient(kc).watch('/api/v1/namespaces/api/pods', '42', (e) => events.push(e), {
      signal: AbortSignal.timeout(2000),
      timeoutSeconds: 60,
      onOpen: () => (opened = true),
    });
    expect(opened).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK', 'DELETED']);
    const params = new URL(query, 'http://x').searchParams;
    expect(Object.fromEntries(params)).toEqual({
      watch: 'true',
      resourceVersion: '42',
      allowWatchBookmarks: 'true',
      timeoutSeconds: '60',
    });
  });

  it('rejects with the HTTP status (410 Gone) and when the stream is cut', async () => {
    const kc = await serve((path, _headers, res) => {
      if (path.includes('resourceVersion=1&')) {
        res.statusCode = 410;
        res.end(JSON.stringify({ kind: 'Status', code: 410, message: 'too old resource version' }));
        return;
      }
      res.write(`${JSON.stringify({ type: 'ADDED', object: pod('a', 'u1') })}\n`);
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const client = kubeMetadataClient(kc);
    const options = { signal: AbortSignal.timeout(2000), timeoutSeconds: 60 };
    await expect(client.watch('/p', '1', () => undefined, options)).rejects.toMatchObject({ status: 410 });
    const events: WatchEvent[] = [];
    await expect(client.watch('/p', '2', (e) => events.push(e), options)).rejects.toBeInstanceOf(MetadataRequestError);
    expect(events).toHaveLength(1);
  });
});
