import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../deploy/manifests.js';

// The runc wrapper that lets kind's privileged nodes start where the capability bounding set lacks CAP_SYS_RESOURCE
// (e2e/scripts/runc-caps-wrapper.sh). Run for real with a stand-in runc that records its arguments.
const WRAPPER = join(REPO_ROOT, 'e2e/scripts/runc-caps-wrapper.sh');
const has = (tool: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const missing = ['bash', 'jq', 'capsh'].filter((tool) => !has(tool));
if (missing.length)
  console.log(`[runc wrapper] skipped: ${missing.join(', ')} not installed (apt-get install jq libcap2-bin)`);

const ALL = ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME'];
/** The bounding set of the project's VMs: everything up to CAP_CHECKPOINT_RESTORE (40) except CAP_SYS_RESOURCE (24). */
const VM_CAPBND = '000001fffeffffff';

describe.skipIf(missing.length > 0)(
  missing.length ? `runc caps wrapper (skipped: ${missing.join(', ')} missing)` : 'runc caps wrapper',
  () => {
    let dir = '';
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const setUp = () => {
      dir = mkdtempSync(join(tmpdir(), 'ksa-runc-'));
      const fakeRunc = join(dir, 'runc');
      writeFileSync(fakeRunc, `#!/bin/sh\nprintf '%s\\n' "$@" > ${join(dir, 'args')}\n`);
      chmodSync(fakeRunc, 0o755);
      const caps = { bounding: ALL, effective: ALL, permitted: ALL, inheritable: ALL, ambient: ['CAP_SYS_RESOURCE'] };
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({ ociVersion: '1.0.2', process: { args: ['sleep'], capabilities: caps }, hostname: 'h' }),
      );
      writeFileSync(join(dir, 'process.json'), JSON.stringify({ args: ['sh'], capabilities: caps }));
      const runWrapper = (args: string[], capbnd = VM_CAPBND) =>
        execFileSync('bash', [WRAPPER, ...args], {
          env: { ...process.env, KSA_REAL_RUNC: fakeRunc, KSA_CAPBND: capbnd },
        });
      const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
      return { runWrapper, read, args: () => readFileSync(join(dir, 'args'), 'utf8').trim().split('\n') };
    };

    it('on create, removes from every capability set of the bundle only what the bounding set lacks, then runs runc with the same arguments', () => {
      const { runWrapper, read, args } = setUp();
      const argv = [
        '--root',
        '/run/runc',
        '--log',
        '/tmp/log.json',
        '--log-format',
        'json',
        'create',
        '--bundle',
        dir,
        '--pid-file',
        '/tmp/pid',
        'c1',
      ];
      runWrapper(argv);
      const kept = ALL.filter((c) => c !== 'CAP_SYS_RESOURCE');
      expect(read('config.json')).toEqual({
        ociVersion: '1.0.2',
        process: {
          args: ['sleep'],
          capabilities: { bounding: kept, effective: kept, permitted: kept, inheritable: kept, ambient: [] },
        },
        hostname: 'h',
      });
      expect(args()).toEqual(argv);
    });

    it('on exec, filters the --process file the same way', () => {
      const { runWrapper, read } = setUp();
      runWrapper(['--root', '/run/runc', 'exec', '--process', join(dir, 'process.json'), '--detach', 'c1']);
      expect((read('process.json').capabilities as Record<string, string[]>).bounding).not.toContain(
        'CAP_SYS_RESOURCE',
      );
      expect(
        (read('config.json').process as { capabilities: Record<string, string[]> }).capabilities.bounding,
      ).toContain('CAP_SYS_RESOURCE');
    });

    it('changes nothing where the bounding set is full, nor for other runc commands', () => {
      const { runWrapper, read, args } = setUp();
      const before = read('config.json');
      runWrapper(['create', '--bundle', dir, 'c1'], '000001ffffffffff');
      expect(read('config.json')).toEqual(before);
      runWrapper(['--root', '/run/runc', 'delete', '--force', 'create']);
      expect(read('config.json')).toEqual(before);
      expect(args()).toEqual(['--root', '/run/runc', 'delete', '--force', 'create']);
    });

    it('fails without leaving a temporary file behind when the spec cannot be rewritten', () => {
      const { runWrapper } = setUp();
      const empty = mkdtempSync(join(dir, 'bundle-'));
      expect(() => runWrapper(['create', '--bundle', empty, 'c1'])).toThrow();
      expect(readdirSync(empty)).toEqual([]);
      expect(existsSync(join(dir, 'args'))).toBe(false);
    });
  },
);
