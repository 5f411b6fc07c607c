import { mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** How a token is obtained: what the kubelet asks the TokenRequest API for. */
export type MintToken = () => Promise<{ token: string; expirationTimestamp: Date }>;

/**
 * Plays the kubelet's part for one projected `serviceAccountToken` volume: mints a token, writes it with the kubelet's
 * atomic-writer layout (`<dir>/<file> -> ..data/<file>`, `..data -> ..<timestamp>`, swapped by a rename), and
 * re-mints it once 80% of its lifetime has passed, as the kubelet does.
 */
export class ProjectedToken {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private current: string | undefined;
  private writes = 0;

  constructor(
    readonly dir: string,
    readonly fileName: string,
    private readonly mint: MintToken,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** The file the service reads. */
  get path(): string {
    return join(this.dir, this.fileName);
  }

  /** The token last written. */
  get token(): string {
    if (!this.current) throw new Error('no token written yet');
    return this.current;
  }

  /** Mints and writes the first token, then keeps rotating it. */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.rotate();
  }

  /** Mints and writes a new token now. */
  async rotate(): Promise<void> {
    const { token, expirationTimestamp } = await this.mint();
    await this.write(token);
    this.current = token;
    if (this.stopped) return;
    const lifetime = expirationTimestamp.getTime() - Date.now();
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.rotate().catch(this.onError);
      },
      Math.max(1000, lifetime * 0.8),
    );
    this.timer.unref();
  }

  /** Stops rotating (the token file stays, as when a pod is deleted and the kubelet stops refreshing it). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async write(token: string): Promise<void> {
    const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}_${++this.writes}`;
    const data = join(this.dir, stamp);
    await mkdir(data);
    await writeFile(join(data, this.fileName), token, { mode: 0o600 });
    const tmpLink = join(this.dir, '..data_tmp');
    await rm(tmpLink, { force: true });
    await symlink(stamp, tmpLink);
    await rename(tmpLink, join(this.dir, '..data'));
    await symlink(join('..data', this.fileName), this.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    for (const entry of await readdir(this.dir)) {
      if (entry.startsWith('..') && entry !== stamp && entry !== '..data')
        await rm(join(this.dir, entry), { recursive: true, force: true });
    }
  }
}
