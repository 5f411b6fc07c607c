import { KubeAuthError } from '@kube-service-auth/verifier';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { articleReject, MESSAGES } from './responses.js';

function appRejecting(error: KubeAuthError) {
  const app = express();
  app.get('/', (req, res) => articleReject(req, res, error));
  return app;
}

describe('articleReject', () => {
  it('answers a misconfiguration 500 without Retry-After, never "Invalid token"', async () => {
    const res = await request(appRejecting(new KubeAuthError('issuer_misconfigured'))).get('/');
    expect([res.status, res.text, res.headers['x-auth-reason'], res.headers['retry-after']]).toEqual([
      500,
      MESSAGES.misconfigured,
      'issuer_misconfigured',
      undefined,
    ]);
  });

  it('answers internal_error and tokenreview_overloaded 503 with Retry-After', async () => {
    for (const code of ['internal_error', 'tokenreview_overloaded'] as const) {
      const res = await request(appRejecting(new KubeAuthError(code))).get('/');
      expect([res.status, res.text, res.headers['retry-after']]).toEqual([503, MESSAGES.unavailable, '5']);
    }
  });
});
