import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { MetadataRequestError } from '../errors.js';

/**
 * The part of an object's metadata the revocation watch keeps: enough to judge a token bound to it, and nothing
 * else (labels, annotations, managedFields and the spec are dropped as soon as they are parsed).
 */
export interface ObjectMeta {
  name: string;
  uid: string;
  /** ms since the epoch. */
  creationTimestamp: number;
  /** ms since the epoch; set once a graceful deletion has started. */
  deletionTimestamp?: number;
}

/** One event of a watch stream, already reduced to {@link ObjectMeta}. */
export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: ObjectMeta; resourceVersion: string }
  | { type: 'BOOKMARK'; resourceVersion: string }
  /** The server ended the watch with a Status; `410` (Gone/Expired) means the resourceVersion is too old: re-list. */
  | { type: 'ERROR'; code: number; message: string };

/** A list: the objects and the resourceVersion to watch from. */
export interface MetadataList {
  items: ObjectMeta[];
  resourceVersion: string;
}

/**
 * Lists, watches and reads objects as metadata only (`PartialObjectMetadata`), for one collection path such as
 * `/api/v1/namespaces/api/pods`. Injected into {@link BoundObjectWatch} so that tests can drive it without a cluster.
 */
export interface MetadataClient {
  list(collectionPath: string, signal: AbortSignal): Promise<MetadataList>;
  /**
   * Watches from `resourceVersion`; `onEvent` runs for every event. Resolves when the server closes the stream
   * (a normal end: watch again from the last resourceVersion), rejects on a transport or HTTP failure.
   */
  watch(
    collectionPath: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    options: { signal: AbortSignal; timeoutSeconds: number; onOpen?: () => void },
  ): Promise<void>;
  /** One object, or `undefined` when the API server says 404. */
  get(objectPath: string, signal: AbortSignal): Promise<ObjectMeta | undefined>;
}

// The metadata-only media types, as client-go's metadata client asks for them; plain JSON stays acceptable so that an
// aggregated server without the conversion still answers (only `metadata` is read either way).
const ACCEPT_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
const ACCEPT_ONE = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Parses an object's `metadata` into {@link ObjectMeta}; undefined when it lacks a name or uid. */
export function toObjectMeta(object: unknown): ObjectMeta | undefined {
  const metadata = (object as { metadata?: Record<string, unknown> } | undefined)?.metadata;
  if (!metadata || typeof metadata.name !== 'string' || typeof metadata.uid !== 'string') return undefined;
  const meta: ObjectMeta = {
    name: metadata.name,
    uid: metadata.uid,
    creationTimestamp: typeof metadata.creationTimestamp === 'string' ? Date.parse(metadata.creationTimestamp) : 0,
  };
  if (typeof metadata.deletionTimestamp === 'string') meta.deletionTimestamp = Date.parse(metadata.deletionTimestamp);
  return meta;
}

/**
 * A {@link MetadataClient} over a `KubeConfig` (in-cluster or a file): its CA, client certificate or (rotating) token
 * are applied on every request, as client-node does. client-node's own `Watch` cannot send an `Accept` header, so the
 * requests are made here with `node:https` and the stream is read line by line.
 */
export function kubeMetadataClient(kubeConfig: KubeConfig, options: { timeoutMs?: number } = {}): MetadataClient {
  const timeoutMs = options.timeoutMs ?? 5000;
  const server = (): URL => {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new MetadataRequestError(0, 'the kubeconfig has no current cluster');
    return new URL(cluster.server);
  };

  const open = async (
    path: string,
    accept: string,
    signal: AbortSignal,
    requestTimeoutMs: number | undefined,
  ): Promise<IncomingMessage> => {
    const base = server();
    const url = new URL(path, base);
    const init: RequestOptions & { headers: Record<string, string> } = {
      method: 'GET',
      protocol: base.protocol,
      hostname: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port,
      path: url.pathname + url.search,
      headers: { accept },
      signal,
    };
    await kubeConfig.applyToHTTPSOptions(init);
    init.headers.accept = accept;
    const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(init, resolve);
      req.on('error', (err) => reject(new MetadataRequestError(0, err.message)));
      if (requestTimeoutMs !== undefined) {
        req.setTimeout(requestTimeoutMs, () => req.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
      }
      req.end();
    });
  };

  const readBody = async (response: IncomingMessage): Promise<string> => {
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new MetadataRequestError(0, `response larger than ${MAX_BODY_BYTES} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  };

  const failure = async (response: IncomingMessage): Promise<MetadataRequestError> => {
    const body = await readBody(response).catch(() => '');
    let message = body.slice(0, 300);
    try {
      const status = JSON.parse(body) as { message?: unknown };
      if (typeof status.message === 'string') message = status.message;
    } catch {
      // not a Status object: keep the raw prefix
    }
    return new MetadataRequestError(response.statusCode ?? 0, `HTTP ${response.statusCode}: ${message}`);
  };

  return {
    async list(collectionPath, signal) {
      const response = await open(collectionPath, ACCEPT_LIST, signal, timeoutMs * 6);
      if (response.statusCode !== 200) throw await failure(response);
      const body = JSON.parse(await readBody(response)) as {
        items?: unknown[];
        metadata?: { resourceVersion?: string };
      };
      const items: ObjectMeta[] = [];
      for (const item of body.items ?? []) {
        const meta = toObjectMeta(item);
        if (meta) items.push(meta);
      }
      return { items, resourceVersion: body.metadata?.resourceVersion ?? '' };
    },

    async get(objectPath, signal) {
      const response = await open(objectPath, ACCEPT_ONE, signal, timeoutMs);
      if (response.statusCode === 404) {
        response.resume();
        return undefined;
      }
      if (response.statusCode !== 200) throw await failure(response);
      const meta = toObjectMeta(JSON.parse(await readBody(response)));
      if (!meta) throw new MetadataRequestError(200, 'the API server answered an object without name or uid');
      return meta;
    },

    async watch(collectionPath, resourceVersion, onEvent, options) {
      const query = new URLSearchParams({
        watch: 'true',
        resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(options.timeoutSeconds),
      });
      // The request timeout only covers the wait for headers; the stream then lasts up to timeoutSeconds.
      const response = await open(`${collectionPath}?${query.toString()}`, ACCEPT_ONE, options.signal, timeoutMs);
      response.socket?.setTimeout(0);
      response.socket?.setKeepAlive(true, 15_000);
      if (response.statusCode !== 200) throw await failure(response);
      options.onOpen?.();
      const lines = createInterface({ input: response, crlfDelay: Infinity });
      try {
        for await (const line of lines) {
          if (!line) continue;
          const event = parseWatchLine(line);
          if (event) onEvent(event);
        }
      } catch (err) {
        throw new MetadataRequestError(0, `watch stream failed: ${(err as Error).message}`);
      }
      // An aborted request ends the stream without an error; report it as one, so the caller does not re-watch.
      if (options.signal.aborted) throw new MetadataRequestError(0, 'watch aborted');
      if (!response.complete) throw new MetadataRequestError(0, 'watch stream ended before the server closed it');
    },
  };
}

/** Parses one line of a watch stream; undefined for lines it cannot use. */
export function parseWatchLine(line: string): WatchEvent | undefined {
  let data: {
    type?: unknown;
    object?: { code?: unknown; message?: unknown; metadata?: { resourceVersion?: unknown } };
  };
  try {
    data = JSON.parse(line) as typeof data;
  } catch {
    return undefined;
  }
  const resourceVersion =
    typeof data.object?.metadata?.resourceVersion === 'string' ? data.object.metadata.resourceVersion : '';
  switch (data.type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED': {
      const object = toObjectMeta(data.object);
      return object ? { type: data.type, object, resourceVersion } : undefined;
    }
    case 'BOOKMARK':
      return { type: 'BOOKMARK', resourceVersion };
    case 'ERROR':
      return {
        type: 'ERROR',
        code: typeof data.object?.code === 'number' ? data.object.code : 0,
        message: typeof data.object?.message === 'string' ? data.object.message : 'watch error',
      };
    default:
      return undefined;
  }
}
