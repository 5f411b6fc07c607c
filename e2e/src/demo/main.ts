/**
 * `pnpm demo`: the article's story on the embedded control plane, with real output. Builds (or reuses) etcd and
 * kube-apiserver, deploys both demo services as local processes, then plays each scene. No token is ever printed:
 * tokens appear as their claims or as a short hash.
 */
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { tokenHash } from '@kube-service-auth/verifier';
import { call, eventually } from '../cases/http.js';
import { payloadOf } from '../support/jwt.js';
import { ControlPlane } from '@kube-service-auth/testing';
import { LocalDeployment } from '../local/local-deployment.js';

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const bold = paint(1);
const green = paint(32);
const red = paint(31);
const dim = paint(2);

let step = 0;
const STEPS = 8;
const heading = (title: string) => console.log(`\n${bold(`[${++step}/${STEPS}] ${title}`)}`);
const note = (text: string) => console.log(`      ${dim(text)}`);

/** Prints one request and its answer; `expected` is what the article says must happen. */
async function show(label: string, url: string, token: string | undefined, expected: number): Promise<boolean> {
  const res = await call(url, token);
  const ok = res.status === expected;
  const reason = res.reason ? dim(` (reason: ${res.reason})`) : '';
  console.log(`  ${ok ? green('✔') : red('✘')} ${label}\n      → ${res.status} ${res.body}${reason}`);
  if (!ok) failures++;
  return ok;
}

/** What a token says about itself, without the token: the claims a reader needs to follow the story. */
function describeToken(token: string): string {
  const claims = payloadOf(token) as {
    sub?: string;
    aud?: string[];
    exp?: number;
    'kubernetes.io'?: { pod?: { name: string } };
  };
  const pod = claims['kubernetes.io']?.pod?.name;
  const exp = claims.exp ? new Date(claims.exp * 1000).toISOString() : '?';
  return `sub=${claims.sub} aud=${JSON.stringify(claims.aud)} pod=${pod ?? '-'} exp=${exp} sha256=${tokenHash(token).slice(0, 12)}…`;
}

let failures = 0;

const CLI = fileURLToPath(new URL('../../../packages/cli/dist/main.js', import.meta.url));

/** Runs the CLI as an operator would, the token on standard input (so it is never on a command line or printed). */
function explainWithCli(kubeconfig: string, token: string): Promise<{ code: number; stdout: string }> {
  const args = [CLI, 'verify', '--kubeconfig', kubeconfig, '--audience', 'data-store', '--allow', 'api:api'];
  return new Promise((resolve) => {
    const child = execFile(process.execPath, args, { env: { PATH: process.env.PATH ?? '' } }, (err, stdout) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout }),
    );
    child.stdin?.end(token);
  });
}

async function main(): Promise<void> {
  console.log(bold('kube-service-auth demo: authentication between microservices with Kubernetes identities'));

  heading('Control plane: real etcd and kube-apiserver on loopback');
  note('first run builds them from their Go modules (several minutes); later runs reuse the cache');
  const controlPlane = await ControlPlane.start();
  const logPath = join(controlPlane.dir, 'services.log');
  const log = createWriteStream(logPath);
  let deployment: LocalDeployment | undefined;
  const shutdown = async () => {
    await deployment?.stop();
    await controlPlane.stop();
    log.end();
  };
  try {
    console.log(`  API server ${controlPlane.url}, issuer ${controlPlane.issuer}`);

    heading('Deploy: namespaces, ServiceAccounts, role-tokenreview-binding, pods, tokens, services');
    deployment = await LocalDeployment.start(controlPlane, {
      onLine: (service, line) => log.write(`${service} | ${line}\n`),
    });
    const d = deployment;
    console.log(`  api (variant 2)        ${d.apiUrls.variant2}  projected token, audience data-store`);
    console.log(`  api-v1 (variant 1)     ${d.apiUrls.variant1}  default token, API-server audience`);
    console.log(`  data store, local      ${d.storeUrls.local}  offline JWKS verification`);
    console.log(`  data store, review     ${d.storeUrls.tokenreview}  TokenReview`);
    console.log(`  data store, variant 1  ${d.storeUrls.variant1}  TokenReview for the API-server audience`);
    console.log(
      `  data store, watch      ${d.storeUrls.watch}  offline JWKS + a watch of the pods and ServiceAccounts in api`,
    );
    note(`service logs: ${logPath}`);

    heading('Variant 2: the API calls the data store with its projected token');
    const apiToken = await d.currentApiToken();
    note(`API token: ${describeToken(apiToken)}`);
    await show('GET api/ (the API forwards the data store answer)', d.apiUrls.variant2, undefined, 200);
    await show('the same token, checked by TokenReview', d.storeUrls.tokenreview, apiToken, 200);

    heading('Variant 1: the default token, reviewed for the API server audience');
    await show('GET api-v1/', d.apiUrls.variant1, undefined, 200);
    const defaultToken = await d.requestToken({
      namespace: 'api',
      serviceAccount: 'api',
      audiences: [d.apiServerAudience],
    });
    note(`default token: ${describeToken(defaultToken)}`);
    note('the weakness the article names: that token is not minted for the data store, so it could be replayed...');
    await show('...but the variant-2 data store requires its own audience', d.storeUrls.local, defaultToken, 403);

    heading('Rejections: direct calls to the data store');
    await show('no X-Client-Id header', d.storeUrls.local, undefined, 401);
    const [h, p] = apiToken.split('.');
    await show('forged signature', d.storeUrls.local, `${h}.${p}.${Buffer.from('forged').toString('base64url')}`, 403);
    const intruder = await d.requestToken({
      namespace: 'api',
      serviceAccount: 'intruder',
      audiences: ['data-store'],
      boundPod: d.intruderPod,
    });
    await show('valid token of ServiceAccount api/intruder', d.storeUrls.local, intruder, 403);
    const billing = await d.requestToken({
      namespace: 'api',
      serviceAccount: 'api',
      audiences: ['billing'],
      boundPod: d.apiPod.name,
    });
    await show('token of api/api for audience "billing"', d.storeUrls.local, billing, 403);

    heading('An operator asks why: kube-service-auth verify (the CLI) on the replayed default token');
    const cli = await explainWithCli(controlPlane.kubeconfigPath, defaultToken);
    console.log(
      `  ${cli.code === 4 ? green('✔') : red('✘')} $ kube-service-auth verify --kubeconfig admin.kubeconfig --audience data-store --allow api:api < token`,
    );
    for (const line of cli.stdout.trimEnd().split('\n')) console.log(`      ${line}`);
    note(`exit code ${cli.code} (4: invalid token)`);
    if (cli.code !== 4) failures++;

    heading('Revocation: the API pod is deleted while its token is still valid');
    const before = d.apiPod.name;
    const watchUrl = d.storeUrls.watch;
    await show('watch mode, before the deletion', watchUrl, apiToken, 200);
    // Polled every 10 ms from before the deletion, so the figure is measured, never asserted (the machine may be busy).
    let watchRefused: number | undefined;
    let deleting = Number.POSITIVE_INFINITY;
    const polling = (async () => {
      const giveUp = performance.now() + 60_000;
      while (performance.now() < giveUp) {
        const started = performance.now();
        if ((await call(watchUrl, apiToken)).status === 403) {
          watchRefused = started - deleting;
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    deleting = performance.now();
    await d.deleteApiPod();
    console.log(
      `  pod api/${before} deleted (grace period 0); its token expires ${describeToken(apiToken).split('exp=')[1]?.split(' ')[0]}`,
    );
    await polling;
    if (watchRefused === undefined) failures++;
    note(
      watchRefused === undefined
        ? 'the watch-mode data store did not refuse the token within 60 s'
        : `the watch-mode data store refused the token ${Math.max(0, watchRefused).toFixed(0)} ms after the deletion request (no API call per request: it watches the pods)`,
    );
    await show('watch mode', watchUrl, apiToken, 403);
    await show('local mode, plain route, at the same moment: still accepted', d.storeUrls.local, apiToken, 200);
    const started = Date.now();
    const rejected = await eventually(
      async () => (await call(d.storeUrls.tokenreview, apiToken)).status === 403,
      60_000,
    );
    note(
      `TokenReview refused the token ${((Date.now() - started) / 1000).toFixed(1)} s after the deletion (the API server and the data store each cache a success for up to 10 s)`,
    );
    if (!rejected) failures++;
    await show('TokenReview mode', d.storeUrls.tokenreview, apiToken, 403);
    await show('local mode, revocation-sensitive route /sensitive', `${d.storeUrls.local}sensitive`, apiToken, 403);
    await show(
      'local mode, plain route: still accepted until exp (the documented trade-off)',
      d.storeUrls.local,
      apiToken,
      200,
    );
    await show(`the replacement pod ${d.apiPod.name} has a new token: GET api/`, d.apiUrls.variant2, undefined, 200);

    heading(
      failures === 0
        ? 'Done: every scene behaved as the article describes'
        : `Done with ${failures} unexpected answer(s)`,
    );
  } finally {
    await shutdown();
  }
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(red(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  process.exitCode = 1;
});
