import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONNECTION_ENV } from './test-cluster.js';

const run = promisify(execFile);
const PACKAGE = fileURLToPath(new URL('../', import.meta.url));

describe('the README', () => {
  it('shows the express example byte for byte as examples/express.test.ts, which runs in this suite', async () => {
    const readme = await readFile(`${PACKAGE}README.md`, 'utf8');
    const example = await readFile(`${PACKAGE}examples/express.test.ts`, 'utf8');
    const block = /<!-- examples\/express\.test\.ts -->\n+```ts\n([\s\S]*?)```\n/.exec(readme)?.[1];
    expect(block).toBe(example);
  });

  it('shows the vitest global setup as examples/global-setup.ts, which this project uses', async () => {
    const readme = await readFile(`${PACKAGE}README.md`, 'utf8');
    const setup = await readFile(`${PACKAGE}examples/global-setup.ts`, 'utf8');
    expect(readme).toContain(`\`\`\`ts\n${setup}\`\`\``);
    expect(await readFile(`${PACKAGE}vitest.config.ts`, 'utf8')).toContain(
      "globalSetup: ['./examples/global-setup.ts']",
    );
  });
});

describe('the node:test recipe', () => {
  it('passes under `node --test`, starting its own control plane when no global setup ran', async () => {
    const { [CONNECTION_ENV]: _, ...env } = process.env;
    const { stdout } = await run(
      process.execPath,
      ['--test', '--test-reporter=tap', '.tsbuild/test/examples/node-test.js'],
      { cwd: PACKAGE, env },
    );
    expect(stdout).toMatch(/^# pass 1$/m);
    expect(stdout).toMatch(/^# fail 0$/m);
  });
});
