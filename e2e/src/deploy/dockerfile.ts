/** A minimal Dockerfile reader: enough to check the demo images' recipes in unit tests (no Docker engine here). */

export interface Instruction {
  keyword: string;
  /** The arguments, continuation lines joined, `${ARG}` references to global ARGs substituted. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Joins `\` continuations, drops comments and blank lines, splits into stages. */
export function parseDockerfile(text: string): Dockerfile {
  const logical: Array<{ text: string; line: number }> = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (!pending && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (pending && trimmed.startsWith('#')) return;
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trimEnd() : trimmed;
    pending = pending ? { text: `${pending.text} ${part}`, line: pending.line } : { text: part, line: index + 1 };
    if (!continued) {
      logical.push(pending);
      pending = undefined;
    }
  });
  if (pending) logical.push(pending);

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  const substitute = (value: string) =>
    value.replace(
      /\$\{(\w+)\}|\$(\w+)/g,
      (whole, a: string | undefined, b: string | undefined) => globalArgs[a ?? b ?? ''] ?? whole,
    );
  for (const { text: line, line: number } of logical) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const keyword = (match[1] as string).toUpperCase();
    const args = match[2] ?? '';
    if (keyword === 'FROM') {
      const from = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ from: substitute(from?.[1] ?? args), name: from?.[2], instructions: [] });
    } else if (stages.length === 0) {
      if (keyword === 'ARG') {
        const [name, value] = args.split('=', 2);
        globalArgs[(name as string).trim()] = value?.trim() ?? '';
      }
    } else {
      (stages.at(-1) as Stage).instructions.push({ keyword, args: substitute(args), line: number });
    }
  }
  return { globalArgs, stages };
}

/** The instructions of a stage with a keyword. */
export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword.toUpperCase());
}

/** A stage-local `ARG NAME=default`. */
export function stageArg(stage: Stage, name: string): string | undefined {
  for (const arg of instructions(stage, 'ARG')) {
    const [key, value] = arg.args.split('=', 2);
    if (key?.trim() === name) return value?.trim();
  }
  return undefined;
}

/**
 * Whether a build-context path is excluded by `.dockerignore` patterns. Supports what this repository uses: exact
 * paths and directory prefixes, `*` within a segment, a leading `**\/` for any depth, and `!` exceptions.
 */
export function isIgnored(path: string, patterns: readonly string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    if (!pattern) continue;
    const anyDepth = pattern.startsWith('**/');
    const body = anyDepth ? pattern.slice(3) : pattern;
    const segment = body
      .split('/')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
      .join('/');
    // A pattern matches the path itself or any directory above it (excluding a directory excludes its content).
    const re = new RegExp(`^${anyDepth ? '(?:.*/)?' : ''}${segment}(?:/.*)?$`);
    if (re.test(path.replace(/^\.\//, '').replace(/\/+$/, ''))) ignored = !negate;
  }
  return ignored;
}

/** Patterns of a `.dockerignore` file. */
export function parseDockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}
