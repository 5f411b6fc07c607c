/**
 * Parses a Go-style listen address (`:8081`, `127.0.0.1:8081`, `[::1]:8081`) as the article's services take it.
 * An empty host means every interface.
 */
export function parseListenAddr(value: string): { host: string | undefined; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65_535) throw new Error(`LISTEN_ADDR: expected [host]:port, got "${value}"`);
  const host = match[1] ?? match[2];
  return { host: host ? host : undefined, port };
}
