import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTokenSource } from '@kube-service-auth/verifier';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiApp } from './app.js';

let dir: string;
let store: Server;
let storeUrl: string;
const seen: Array<string | undefined> = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'demo-api-'));
  // A stand-in data store on loopback that echoes what the article's store decides from the header alone.
  const app = express();
  app.get('/', (req, res) => {
    seen.push(req.header('x-client-id'));
    if (!req.header('x-client-id')) res.status(401).send('X-Client-Id not supplied');
    else
      res
        .status(req.header('x-client-id') === 'good.token.sig' ? 200 : 403)
        .send(req.header('x-client-id') === 'good.token.sig' ? 'Hello' : 'Invalid token');
  });
  store = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => store.once('listening', resolve));
  storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

function api(tokenFile: string, dataStoreUrl = storeUrl) {
  const reads: string[] = [];
  const tokenSource = new FileTokenSource({
    path: tokenFile,
    reread: 'always',
    onRead: ({ path }) => reads.push(path),
  });
  return { app: createApiApp({ tokenSource, dataStoreUrl, logger: pino({ level: 'silent' }) }), reads };
}

describe('demo API', () => {
  it('sends its token in X-Client-Id and forwards the data store status and body', async () => {
    const file = join(dir, 'good');
    await writeFile(file, 'good.token.sig\n');
    const { app } = api(file);
    const res = await request(app).get('/');
    expect(res.status).toBe(200);
    expect(res.text).toBe('Hello');
    expect(seen.at(-1)).toBe('good.token.sig');
  });

  it('forwards a 403 from the data store unchanged', async () => {
    const file = join(dir, 'bad');
    await writeFile(file, 'bad.token.sig');
    const res = await request(api(file).app).get('/');
    expect(res.status).toBe(403);
    expect(res.text).toBe('Invalid token');
  });

  it('re-reads the token file on every request, so a rotated token is used at once', async () => {
    const file = join(dir, 'rotating');
    await writeFile(file, 'bad.token.sig');
    const { app, reads } = api(file);
    expect((await request(app).get('/')).status).toBe(403);
    await writeFile(file, 'good.token.sig');
    expect((await request(app).get('/')).status).toBe(200);
    expect(reads).toHaveLength(2);
  });

  it('answers 500 with the error text when the data store cannot be reached', async () => {
    const file = join(dir, 'good2');
    await writeFile(file, 'good.token.sig');
    const closed = express().listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
    await new Promise((resolve) => closed.close(resolve));
    const res = await request(api(file, url).app).get('/');
    expect(res.status).toBe(500);
    expect(res.text).toMatch(/fetch failed: connect ECONNREFUSED 127\.0\.0\.1/);
  });

  it('answers 500 naming the missing token file, and is not ready', async () => {
    const { app } = api(join(dir, 'absent'));
    const res = await request(app).get('/');
    expect(res.status).toBe(500);
    expect(res.text).toMatch(/absent/);
    expect((await request(app).get('/readyz')).status).toBe(503);
  });
});
