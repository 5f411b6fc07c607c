import { loadConfig } from '@kube-service-auth/verifier';
import { describe, expect, it } from 'vitest';
import { deployments, loadManifests } from '../deploy/manifests.js';
import { call, eventually, TEXT } from './http.js';
import type { DemoTarget } from './target.js';

/** kube-apiserver caches every successful token authentication for 10 s (not a flag for ServiceAccount tokens). */
const API_SERVER_SUCCESS_CACHE_MS = 10_000;
/** Time for the pod's deletion to reach the API server's authenticator (its pod informer) and for one poll. */
const PROPAGATION_SLACK_MS = 10_000;

/** How long the data store in `namespace`/`name` of deploy/manifests keeps a TokenReview success (its own cache). */
function storeReviewCacheMs(name: string): number {
  const store = deployments(loadManifests()).find(
    (d) => d.metadata?.namespace === 'data-store' && d.metadata.name === name,
  );
  const env = Object.fromEntries(
    (store?.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? '']),
  );
  return loadConfig(env).tokenReviewCacheTtlSeconds * 1000;
}

/**
 * The latest moment after a pod's deletion at which a surface that asks TokenReview must refuse the pod's token: the
 * data store may answer from its cache a success it cached just before the deletion, and when that expires, the API
 * server may answer from its own cache a success that the store then caches again; after both, the API server checks
 * the bound pod and refuses.
 */
function revocationBoundMs(store: string): number {
  return storeReviewCacheMs(store) + API_SERVER_SUCCESS_CACHE_MS + PROPAGATION_SLACK_MS;
}

/**
 * How a token minted for another audience is refused: local mode sees the `aud` claim; in TokenReview mode the
 * offline pre-check sees it too when the store holds its issuer's keys, otherwise the API server, asked for our
 * audience, simply does not authenticate the token.
 */
const AUDIENCE_REASONS = {
  local: ['audience_mismatch'],
  tokenreview: ['audience_mismatch', 'tokenreview_rejected'],
} as const;

/**
 * The article's story as test cases, for any {@link DemoTarget}. `target` is a function because the target is
 * created in the caller's `beforeAll`.
 */
export function defineDemoCases(target: () => DemoTarget): void {
  const stores = () => Object.entries<string>(target().storeUrls);

  describe('variant 2: projected token for the data-store audience', () => {
    it('the API reaches the data store and is authenticated', async () => {
      const res = await call(target().apiUrls.variant2);
      expect(res).toMatchObject({ status: 200, body: TEXT.ok });
    });

    it.each(['local', 'tokenreview'] as const)('the %s-mode data store accepts the API token', async (mode) => {
      const res = await call(target().storeUrls[mode], await target().currentApiToken());
      expect(res).toMatchObject({ status: 200, body: TEXT.ok });
    });
  });

  describe('variant 1: default token reviewed for the API-server audience', () => {
    it('the API reaches the variant-1 data store and is authenticated', async () => {
      const res = await call(target().apiUrls.variant1);
      expect(res).toMatchObject({ status: 200, body: TEXT.ok });
    });

    it('a default token replayed to the variant-2 data stores is refused (audience)', async () => {
      const t = target();
      const token = await t.requestToken({ namespace: 'api', serviceAccount: 'api', audiences: [t.apiServerAudience] });
      for (const mode of ['local', 'tokenreview'] as const) {
        const res = await call(t.storeUrls[mode], token);
        expect(res, mode).toMatchObject({ status: 403, body: TEXT.invalid });
        expect(AUDIENCE_REASONS[mode], mode).toContain(res.reason);
      }
    });
  });

  describe('rejections', () => {
    it('a call without X-Client-Id gets 401 from every data store', async () => {
      for (const [mode, url] of stores()) {
        expect(await call(url), mode).toMatchObject({ status: 401, body: TEXT.missing });
      }
    });

    it('a forged token gets 403 from every data store', async () => {
      const t = target();
      const real = await t.currentApiToken();
      const [header, payload] = real.split('.');
      const forged = `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;
      for (const [mode, url] of stores()) {
        expect(await call(url, forged), mode).toMatchObject({ status: 403, body: TEXT.invalid });
      }
    });

    it('garbage gets 403 from every data store', async () => {
      for (const [mode, url] of stores()) {
        expect(await call(url, 'not-a-token'), mode).toMatchObject({
          status: 403,
          body: TEXT.invalid,
          reason: 'token_malformed',
        });
      }
    });

    it('a valid token of another ServiceAccount gets 403', async () => {
      const t = target();
      const token = await t.requestToken({
        namespace: 'api',
        serviceAccount: 'intruder',
        audiences: ['data-store'],
        boundPod: t.intruderPod,
      });
      for (const mode of ['local', 'tokenreview'] as const) {
        expect(await call(t.storeUrls[mode], token), mode).toMatchObject({
          status: 403,
          body: TEXT.invalid,
          reason: 'identity_not_allowed',
        });
      }
    });

    it('a token for another audience gets 403', async () => {
      const t = target();
      const token = await t.requestToken({ namespace: 'api', serviceAccount: 'api', audiences: ['billing'] });
      for (const mode of ['local', 'tokenreview'] as const) {
        const res = await call(t.storeUrls[mode], token);
        expect(res, mode).toMatchObject({ status: 403, body: TEXT.invalid });
        expect(AUDIENCE_REASONS[mode], mode).toContain(res.reason);
      }
    });
  });

  describe('revocation: the API pod is deleted', () => {
    it('TokenReview mode and revocation-sensitive routes refuse its token; local mode accepts it until it expires', async () => {
      const t = target();
      const token = await t.currentApiToken();
      expect((await call(`${t.storeUrls.local}sensitive`, token)).status).toBe(200);
      const watch = t.storeUrls.watch;
      if (watch) expect((await call(watch, token)).status).toBe(200);
      expect((await call(t.storeUrls.tokenreview, token)).status).toBe(200);
      const deletedAt = Date.now();
      await t.deleteApiPod();
      if (watch) {
        // The watch sees the deletion within about a second; the bound here only keeps a loaded machine from flaking.
        expect(
          await eventually(async () => (await call(watch, token)).status === 403, 10_000, 50),
          'watch mode refuses the token',
        ).toBe(true);
        expect(await call(watch, token)).toMatchObject({ status: 403, reason: 'token_revoked' });
      }

      // Each surface has its own review cache, filled at its own moment: each is polled on its own, against the bound
      // its two caches allow (see revocationBoundMs), counted from the deletion.
      const surfaces = [
        {
          name: 'the TokenReview-mode data store',
          url: t.storeUrls.tokenreview,
          boundMs: revocationBoundMs('app-tokenreview'),
        },
        {
          name: "the local-mode data store's revocation-sensitive /sensitive route",
          url: `${t.storeUrls.local}sensitive`,
          boundMs: revocationBoundMs('app'),
        },
      ];
      for (const surface of surfaces) {
        const remaining = Math.max(0, deletedAt + surface.boundMs - Date.now());
        const refused = await eventually(async () => (await call(surface.url, token)).status === 403, remaining);
        expect(refused, `${surface.name} refuses the deleted pod's token within ${surface.boundMs / 1000} s`).toBe(
          true,
        );
        expect(await call(surface.url, token), surface.name).toMatchObject({
          status: 403,
          reason: 'tokenreview_rejected',
        });
      }
      // The documented trade-off: offline verification cannot see the deletion.
      expect(await call(t.storeUrls.local, token)).toMatchObject({ status: 200, body: TEXT.ok });
    });

    it('the replacement pod gets a new token and the API works again', async () => {
      const t = target();
      const ok = await eventually(async () => (await call(t.apiUrls.variant2)).status === 200, 60_000);
      expect(ok).toBe(true);
    });
  });

  describe('revocation in watch mode: the API pod is deleted again', () => {
    it('the watch-mode data store refuses its token within seconds, while the plain local store still accepts it', async (context) => {
      const t = target();
      const watch = t.storeUrls.watch;
      if (!watch) {
        context.skip(`skipped: ${t.name} deploys no watch-mode data store`);
        return;
      }
      const token = await t.currentApiToken();
      expect(await call(watch, token)).toMatchObject({ status: 200, body: TEXT.ok });
      await t.deleteApiPod();
      // The watch sees the deletion within about a second (integration/revocation.test.ts asserts it, mode beside mode);
      // the bound only absorbs a loaded machine.
      expect(
        await eventually(async () => (await call(watch, token)).status === 403, 10_000, 50),
        'watch mode refuses the token',
      ).toBe(true);
      expect(await call(watch, token)).toMatchObject({ status: 403, reason: 'token_revoked' });
      expect(await call(t.storeUrls.local, token)).toMatchObject({ status: 200, body: TEXT.ok });
      expect(
        await eventually(async () => (await call(t.apiUrls.variant2)).status === 200, 60_000),
        'the replacement works',
      ).toBe(true);
    });
  });
}
