import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isKubeAuthError } from '@kube-service-auth/verifier';
import { afterAll, expect } from 'vitest';

/**
 * The adversarial suite's own bookkeeping: every attack, fault and control case records what was expected and what was
 * observed, so that the counts in docs/security.md (attacks tried, faults injected, accepted by mistake) come from a
 * real run. Each test file writes its records to `.tmp/adversarial/<file>.json` in an `afterAll`, and prints its own
 * counts and the totals over every file of the suite found there.
 */

/** `attack`: a bad token or request that must be refused. `fault`: an outage or race. `control`: a valid case. */
export type Kind = 'attack' | 'fault' | 'control';
export type Verdict = 'accept' | 'reject';

export interface Entry {
  kind: Kind;
  /** The attack or fault, as the row of the table names it; a fault's name is `<fault> — <what is checked>`. */
  name: string;
  /** The outcome the suite requires, in words (e.g. "HTTP 403", "rejected, 0 key fetches"). */
  expected: string;
  /** The reason code(s) the suite requires; `—` for an accept. */
  reason: string;
  expectedVerdict: Verdict;
  observedVerdict: Verdict;
  /** The reason code observed (or `accepted`, or a description of anything unexpected). */
  observed: string;
  /** `<file> › <describe> › <it>`. */
  test: string;
  /** How many inputs this entry stands for (fuzzing records one entry per property with its run count). */
  inputs: number;
  /** Of those, how many were accepted although they had to be refused (default: all of them when the verdict is). */
  mistakes?: number;
  /** The input was a valid token that the design refuses on purpose in this situation (reported separately). */
  validRefusedByDesign?: boolean;
}

export interface Measurement {
  name: string;
  value: number;
  unit: string;
  test: string;
}

interface FileReport {
  file: string;
  finishedAt: string;
  entries: Entry[];
  measurements: Measurement[];
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const REPORT_DIR = join(ROOT, '.tmp', 'adversarial');

const entries: Entry[] = [];
const measurements: Measurement[] = [];

/** `<file> › <describe> › <it>` of the running test. */
export function currentTest(): string {
  const state = expect.getState();
  const file = state.testPath ? basename(state.testPath) : 'unknown';
  return [file, ...(state.currentTestName ?? '').split(' > ')].filter(Boolean).join(' › ');
}

export function record(entry: Omit<Entry, 'test' | 'inputs'> & { inputs?: number }): void {
  entries.push({ ...entry, inputs: entry.inputs ?? 1, test: currentTest() });
}

export function measure(name: string, value: number, unit: string): void {
  measurements.push({ name, value, unit, test: currentTest() });
}

/** What a verification did: the identity it returned, or the error it threw. */
export type Outcome = { verdict: 'accept'; value: unknown } | { verdict: 'reject'; error: unknown; code: string };

export async function outcomeOf(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { verdict: 'accept', value: await run() };
  } catch (error) {
    return {
      verdict: 'reject',
      error,
      code: isKubeAuthError(error) ? error.code : `unexpected ${describeError(error)}`,
    };
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Runs `run`, records the outcome as an attack that must be refused with `reason`, and asserts it: a KubeAuthError
 * with exactly that code.
 */
export async function expectRejected(
  name: string,
  reason: string,
  run: () => Promise<unknown>,
  options: { kind?: Kind; expected?: string; validRefusedByDesign?: boolean } = {},
): Promise<void> {
  const outcome = await outcomeOf(run);
  record({
    ...(options.validRefusedByDesign ? { validRefusedByDesign: true } : {}),
    kind: options.kind ?? 'attack',
    name,
    expected: options.expected ?? 'rejected (KubeAuthError)',
    reason,
    expectedVerdict: 'reject',
    observedVerdict: outcome.verdict,
    observed: outcome.verdict === 'accept' ? 'accepted' : outcome.code,
  });
  expect(outcome.verdict, `${name}: accepted by mistake`).toBe('reject');
  if (outcome.verdict === 'reject') {
    expect(isKubeAuthError(outcome.error), `${name}: ${outcome.code}`).toBe(true);
    expect(outcome.code, name).toBe(reason);
  }
}

/** Runs `run`, records it as a case that must be accepted, and asserts that it was; returns the identity. */
export async function expectAccepted<T>(
  name: string,
  run: () => Promise<T>,
  options: { kind?: Kind; expected?: string } = {},
): Promise<T> {
  const outcome = await outcomeOf(run);
  record({
    kind: options.kind ?? 'control',
    name,
    expected: options.expected ?? 'accepted',
    reason: '—',
    expectedVerdict: 'accept',
    observedVerdict: outcome.verdict,
    observed: outcome.verdict === 'accept' ? 'accepted' : outcome.code,
  });
  if (outcome.verdict === 'reject') throw new Error(`${name}: refused (${outcome.code})`, { cause: outcome.error });
  return outcome.value as T;
}

/** An HTTP answer as the suite sees it. */
export interface HttpAnswer {
  status: number;
  /** `X-Auth-Reason` of the data store. */
  reason: string | null;
}

/** Records an HTTP attack and asserts its status and reason; a 2xx is an accept, anything else a rejection. */
export function expectHttp(
  name: string,
  answer: HttpAnswer,
  want: { status: number; reason: string | null },
  options: { kind?: Kind; expected?: string } = {},
): void {
  const accepted = answer.status >= 200 && answer.status < 300;
  const expectedVerdict: Verdict = want.status >= 200 && want.status < 300 ? 'accept' : 'reject';
  record({
    kind: options.kind ?? (expectedVerdict === 'accept' ? 'control' : 'attack'),
    name,
    expected: options.expected ?? `HTTP ${want.status}`,
    reason: want.reason ?? '—',
    expectedVerdict,
    observedVerdict: accepted ? 'accept' : 'reject',
    observed: `HTTP ${answer.status}${answer.reason ? ` ${answer.reason}` : ''}`,
  });
  expect({ status: answer.status, reason: answer.reason }, name).toEqual({ status: want.status, reason: want.reason });
}

/**
 * Totals over a set of entries, as docs/security.md states them. An attack or fault is counted once however many
 * entries (surfaces, repetitions) it has; its inputs are all counted.
 */
export function totals(list: readonly Entry[]) {
  const sum = (filter: (e: Entry) => boolean) => list.filter(filter).reduce((n, e) => n + e.inputs, 0);
  const distinct = (filter: (e: Entry) => boolean, key: (e: Entry) => string = (e) => e.name) =>
    new Set(list.filter(filter).map(key)).size;
  return {
    attackCases: distinct((e) => e.kind === 'attack'),
    attackInputs: sum((e) => e.kind === 'attack'),
    faultsInjected: distinct(
      (e) => e.kind === 'fault',
      (e) => e.name.split(' — ')[0] as string,
    ),
    faultCases: distinct((e) => e.kind === 'fault'),
    controls: distinct((e) => e.kind === 'control'),
    acceptedByMistake: list.reduce(
      (n, e) => n + (e.mistakes ?? (e.expectedVerdict === 'reject' && e.observedVerdict === 'accept' ? e.inputs : 0)),
      0,
    ),
    validRequestsLost: sum((e) => e.expectedVerdict === 'accept' && e.observedVerdict === 'reject'),
    validRefusedByDesign: distinct((e) => e.validRefusedByDesign === true),
  };
}

function formatTotals(t: ReturnType<typeof totals>): string {
  return (
    `attacks tried: ${t.attackCases} distinct / ${t.attackInputs} inputs (fuzzing included), ` +
    `faults injected: ${t.faultsInjected} (${t.faultCases} checks), controls: ${t.controls}, ` +
    `accepted-by-mistake: ${t.acceptedByMistake}, valid requests lost: ${t.validRequestsLost} ` +
    `(valid tokens refused by design: ${t.validRefusedByDesign})`
  );
}

/** Every file's last report found in {@link REPORT_DIR}. */
export function readReports(): FileReport[] {
  let files: string[];
  try {
    files = readdirSync(REPORT_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((f) => JSON.parse(readFileSync(join(REPORT_DIR, f), 'utf8')) as FileReport);
}

const FILE_ORDER = ['tokens.test.ts', 'http.test.ts', 'fuzz.test.ts', 'faults.test.ts', 'token-file.test.ts'];
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

/**
 * The table of docs/security.md: one row per attack, fault check or control (entries of the same name merged), with
 * the expected outcome, the reason code and every test that checks it; then the totals and the measurements.
 */
export function renderMarkdown(reports: readonly FileReport[]): string {
  const ordered = [...reports].sort((a, b) => rank(a.file) - rank(b.file));
  const all = ordered.flatMap((r) => r.entries);
  const rows = new Map<
    string,
    { kind: Kind; name: string; expected: Set<string>; reason: Set<string>; tests: Set<string> }
  >();
  for (const e of all) {
    const key = `${e.kind}\u0000${e.name}`;
    const row = rows.get(key) ?? {
      kind: e.kind,
      name: e.name,
      expected: new Set(),
      reason: new Set(),
      tests: new Set(),
    };
    row.expected.add(e.expected);
    row.reason.add(e.reason);
    row.tests.add(e.test);
    rows.set(key, row);
  }
  const section = (kind: Kind, title: string) => [
    `### ${title}`,
    '',
    '| attack or fault | expected outcome | reason code | test name (file › describe › it) |',
    '|---|---|---|---|',
    ...[...rows.values()]
      .filter((r) => r.kind === kind)
      .map(
        (r) =>
          `| ${cell(r.name)} | ${cell([...r.expected].join('; '))} | ${cell([...r.reason].map((x) => (x === '—' ? x : `\`${x}\``)).join(', '))} | ${cell([...r.tests].join('<br>'))} |`,
      ),
    '',
  ];
  const t = totals(all);
  const fuzz = all.filter((e) => e.name.startsWith('fuzz: '));
  return [
    `Generated from a run finished ${
      ordered
        .map((r) => r.finishedAt)
        .sort()
        .pop() ?? ''
    } (${ordered.map((r) => r.file).join(', ')}).`,
    '',
    `- attacks tried: **${t.attackCases}** distinct, **${t.attackInputs}** inputs in all (fuzzing included)`,
    `- faults injected: **${t.faultsInjected}** (${t.faultCases} checks)`,
    `- controls (valid requests that must pass): ${t.controls}`,
    `- accepted by mistake: **${t.acceptedByMistake}**`,
    `- valid requests lost: **${t.validRequestsLost}**; valid tokens refused by design: ${t.validRefusedByDesign}`,
    '',
    ...section('attack', 'Attacks'),
    ...section('fault', 'Faults'),
    ...section('control', 'Controls'),
    '### Fuzzing: what the runs saw',
    '',
    '| property | runs | outcomes |',
    '|---|---|---|',
    ...fuzz.map((e) => `| ${cell(e.name.slice('fuzz: '.length))} | ${e.inputs} | ${cell(e.observed)} |`),
    '',
    '### Measurements',
    '',
    ...ordered.flatMap((r) => r.measurements).map((m) => `- ${m.name}: ${m.value} ${m.unit}`),
    '',
  ].join('\n');
}

function rank(file: string): number {
  const i = FILE_ORDER.indexOf(file);
  return i < 0 ? FILE_ORDER.length : i;
}

/** Registers the `afterAll` that writes this file's report and prints the counts. Call once per test file. */
export function reportAfterAll(): void {
  afterAll(() => {
    const file = basename(expect.getState().testPath ?? 'unknown');
    mkdirSync(REPORT_DIR, { recursive: true });
    const report: FileReport = { file, finishedAt: new Date().toISOString(), entries, measurements };
    writeFileSync(join(REPORT_DIR, `${file}.json`), JSON.stringify(report, null, 2));
    const all = readReports();
    const lines = [
      `[adversarial] ${file}: ${formatTotals(totals(entries))}`,
      ...measurements.map((m) => `[adversarial]   ${m.name}: ${m.value} ${m.unit}`),
      `[adversarial] suite (${all.map((r) => r.file).join(', ')}): ${formatTotals(totals(all.flatMap((r) => r.entries)))}`,
    ];
    writeFileSync(join(REPORT_DIR, 'security-table.md'), renderMarkdown(all));
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
