#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '@kube-service-auth/verifier';
import { EXIT } from './exit-codes.js';
import { inspect, renderInspection } from './inspect.js';
import { readToken, UsageError } from './read-token.js';
import { explain, verifyToken, type VerifyFlags } from './verify.js';

// kube-service-auth: what an operator reaches for when a call gets 401 or 403.

// `kube-service-auth inspect … | head` closes the pipe early: not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const program = new Command('kube-service-auth')
  .description('Verify or inspect a Kubernetes ServiceAccount token as a kube-service-auth service would.')
  .showHelpAfterError()
  .exitOverride();

program
  .command('verify')
  .description(
    'verify a token (argument, --file, or standard input) and print the caller as JSON, or why it is refused',
  )
  .argument('[token]', 'the token ("-" or nothing to read standard input)')
  .option('-f, --file <path>', 'read the token from a file (e.g. a projected token)')
  .addOption(
    new Option('--mode <mode>', 'local (JWKS) or tokenreview [K8S_AUTH_MODE]').choices(['local', 'tokenreview']),
  )
  .option('--audience <list>', 'audiences the token must be for, comma-separated [K8S_AUTH_AUDIENCE]')
  .option('--issuer <list>', 'accepted issuers [K8S_AUTH_ISSUER; default: discovered from the cluster]')
  .option('--jwks-uri <list>', 'key set URL per issuer [K8S_AUTH_JWKS_URI; default: <server>/openid/v1/jwks]')
  .option(
    '--allow <list>',
    'allowed identities, e.g. api:api or system:serviceaccount:api:api [K8S_AUTH_ALLOWED_IDENTITIES; default: any]',
  )
  .option('--allow-group <list>', 'allowed groups [K8S_AUTH_ALLOWED_GROUPS]')
  .option('--require-pod-binding', 'refuse tokens not bound to a pod [K8S_AUTH_REQUIRE_POD_BINDING]')
  .option('--leeway <seconds>', 'clock leeway [K8S_AUTH_LEEWAY_SECONDS]')
  .option('--revocation-sensitive', 'also confirm with TokenReview, as a revocation-sensitive route does')
  .option('--kubeconfig <path>', 'kubeconfig file, as kubectl [K8S_AUTH_KUBECONFIG, KUBECONFIG]')
  .option('--context <name>', 'kubeconfig context, as kubectl')
  .option('--json', 'print the refusal as JSON too (the identity is always JSON)')
  .addHelpText(
    'after',
    `\nExit codes: ${EXIT.ok} allowed, ${EXIT.usage} usage or configuration error, ${EXIT.unauthenticated} no token, ${EXIT.invalid} invalid token, ` +
      `${EXIT.forbidden} not allowed by the policy, ${EXIT.unavailable} cannot decide now (outage or internal error), ${EXIT.misconfigured} misconfigured (key or issuer unusable).`,
  )
  .action(async (tokenArg: string | undefined, options: VerifyFlags & { file?: string; json?: boolean }) => {
    const token = await readToken(tokenArg, options.file);
    const result = await verifyToken(token, options);
    const auth = result.authentication;
    if (auth.ok) {
      process.stdout.write(
        `${JSON.stringify({ allowed: true, identity: auth.identity, decision: auth.decision }, null, 2)}\n`,
      );
      process.exitCode = EXIT.ok;
      return;
    }
    if (options.json) {
      const body = {
        allowed: false,
        reason: auth.reason,
        kind: auth.kind,
        message: auth.error.message,
        http: auth.http.status,
        grpc: auth.grpc.name,
      };
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    } else {
      process.stdout.write(`${explain(result, token).join('\n')}\n`);
    }
    process.exitCode = EXIT[auth.kind];
  });

program
  .command('inspect')
  .description('decode a token WITHOUT verifying it, and explain its expiry, audience and bindings')
  .argument('[token]', 'the token ("-" or nothing to read standard input)')
  .option('-f, --file <path>', 'read the token from a file')
  .option('--json', 'print the decoded header and payload as JSON (still unverified)')
  .action(async (tokenArg: string | undefined, options: { file?: string; json?: boolean }) => {
    const result = inspect(await readToken(tokenArg, options.file));
    process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : renderInspection(result));
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are exits of their own; anything else commander reports is a usage error (already printed).
    process.exitCode = err.exitCode === 0 ? 0 : EXIT.usage;
  } else if (err instanceof UsageError || err instanceof ConfigError) {
    process.stderr.write(`kube-service-auth: ${err.message}\n`);
    process.exitCode = EXIT.usage;
  } else {
    process.stderr.write(`kube-service-auth: ${(err as Error).message ?? String(err)}\n`);
    process.exitCode = EXIT.unavailable;
  }
}
