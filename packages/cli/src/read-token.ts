import { readFile } from 'node:fs/promises';

/** Where the token comes from: the argument, `--file`, or standard input (`-`, or no argument with piped input). */
export async function readToken(
  argument: string | undefined,
  file: string | undefined,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<string> {
  if (argument !== undefined && file !== undefined)
    throw new UsageError('give the token as an argument or with --file, not both');
  let text: string;
  if (file !== undefined) {
    text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read the token file ${file}: ${err.code ?? err.message}`);
    });
  } else if (argument !== undefined && argument !== '-') text = argument;
  else if (argument === '-' || !stdin.isTTY) text = await readStream(stdin);
  else throw new UsageError('no token: give it as an argument, with --file <path>, or on standard input');
  // What an operator pastes is often a whole header value.
  // An empty token is not a usage error: it is verified, and refused as token_missing (exit 3) as a service would.
  return text.trim().replace(/^Bearer\s+/i, '');
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** A mistake in how the command was called: exit code 2 with the message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
