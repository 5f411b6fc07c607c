import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  Server,
  ServerCredentials,
  type Client,
  type ClientOptions,
  type ServerInterceptor,
  type ServiceError,
} from '@grpc/grpc-js';
import { kubeAuthOf } from '@kube-service-auth/verifier/grpc';

// A one-method gRPC service with JSON messages (no protobuf toolchain), for the adapter suites:
// `WhoAmI` answers with the caller the interceptor handed to the handler.

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
export const WHO_AM_I = '/demo.Echo/WhoAmI';
const definition = {
  whoAmI: {
    path: WHO_AM_I,
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
const EchoClient = makeGenericClientConstructor(definition, 'Echo');

/** Room for the catalogue's 9 KiB tokens, so that our limit (not grpc-js's 8 KiB default) decides. */
const METADATA = { 'grpc.max_metadata_size': 64 * 1024 };

/** A server on an ephemeral loopback port, with `interceptors` (none: the unprotected baseline). */
export async function startEchoServer(
  interceptors: ServerInterceptor[] = [],
): Promise<{ address: string; stop: () => Promise<void> }> {
  const server = new Server({ interceptors, ...METADATA });
  server.addService(definition, {
    whoAmI: (call: { metadata: Metadata }, callback: (err: null, value: unknown) => void) => {
      const auth = kubeAuthOf(call);
      callback(null, auth ? { username: auth.identity.username, rule: auth.decision.rule } : { username: null });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

export type EchoAnswer = { ok: true; username: string | null } | { ok: false; code: number; details: string };

/** A plaintext client for {@link startEchoServer}. */
export class EchoCaller {
  private readonly client: Client;
  constructor(address: string, options: ClientOptions = {}) {
    this.client = new EchoClient(address, credentials.createInsecure(), { ...METADATA, ...options });
  }

  /** One unary call with `metadata` (key → values; several values are sent as several entries). */
  whoAmI(metadata: Record<string, string | string[]> = {}): Promise<EchoAnswer> {
    const md = new Metadata();
    for (const [key, values] of Object.entries(metadata))
      for (const v of typeof values === 'string' ? [values] : values) md.add(key, v);
    return new Promise((resolve) => {
      (
        this.client as unknown as {
          whoAmI: (req: unknown, md: Metadata, cb: (err: ServiceError | null, v: unknown) => void) => void;
        }
      ).whoAmI({}, md, (err, value) => {
        if (err) resolve({ ok: false, code: err.code, details: err.details });
        else resolve({ ok: true, username: (value as { username: string | null }).username });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
