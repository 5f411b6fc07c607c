import { EchoCaller } from '../cases/grpc-echo.js';
import { percentiles, type LoadResult } from './load.js';

/**
 * Closed-loop load on the unary `WhoAmI` method: `connections` calls in flight at all times on one plaintext channel
 * (HTTP/2 streams), each caller cycling through `tokens`, for `durationSeconds`. The gRPC counterpart of autocannon.
 */
export async function runGrpcLoad(options: {
  address: string;
  tokens: readonly string[];
  connections: number;
  durationSeconds: number;
}): Promise<LoadResult> {
  const caller = new EchoCaller(options.address);
  const samples: number[] = [];
  const status: Record<string, number> = {};
  let ok = 0;
  const start = performance.now();
  const end = start + options.durationSeconds * 1000;
  let next = 0;
  const loop = async () => {
    while (performance.now() < end) {
      const token = options.tokens[next++ % options.tokens.length] as string;
      const t = performance.now();
      const answer = await caller.whoAmI({ authorization: `Bearer ${token}` });
      samples.push(performance.now() - t);
      const code = answer.ok ? 'OK' : String(answer.code);
      status[code] = (status[code] ?? 0) + 1;
      if (answer.ok) ok++;
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, loop));
  } finally {
    caller.close();
  }
  const seconds = (performance.now() - start) / 1000;
  const all = Float64Array.from(samples);
  return {
    seconds,
    responses: samples.length,
    rps: samples.length / seconds,
    latency: percentiles(all),
    status,
    ok,
    errors: 0,
    timeouts: 0,
    samples: all,
  };
}

/** One call per token, checked, before any measurement. */
export async function primeGrpc(address: string, tokens: readonly string[]): Promise<void> {
  const caller = new EchoCaller(address);
  try {
    for (const token of tokens) {
      const answer = await caller.whoAmI({ authorization: `Bearer ${token}` });
      if (!answer.ok) throw new Error(`priming gRPC ${address}: ${answer.code} ${answer.details}`);
    }
  } finally {
    caller.close();
  }
}
