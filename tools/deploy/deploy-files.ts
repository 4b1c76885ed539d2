/**
 * Readers for the deployment files (docker-compose.yml, the service Dockerfiles, .dockerignore) used by the
 * offline checks in this folder: there is no Docker engine on the machines that run the suite.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';

export const ROOT = resolve(__dirname, '..', '..');
export const COMPOSE_FILE = join(ROOT, 'docker-compose.yml');

/** The services, one per app with an entry point, except the `twins` command line. */
export function serviceApps(): string[] {
  return readdirSync(join(ROOT, 'apps'))
    .filter((app) => app !== 'twins' && existsSync(join(ROOT, 'apps', app, 'src', 'main.ts')))
    .sort();
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  ports?: (string | number | { target?: number; published?: string | number })[];
  volumes?: (string | { source?: string; target?: string })[];
  restart?: string;
  stop_grace_period?: string;
  container_name?: string;
  [key: string]: unknown;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  [key: string]: unknown;
}

/** Parses YAML strictly: any error or warning (duplicate keys, bad anchors) throws. */
export function parseYaml(text: string): Json {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join('\n'));
  return doc.toJS({ maxAliasCount: 100 }) as Json;
}

export function readCompose(): ComposeFile {
  return parseYaml(readFileSync(COMPOSE_FILE, 'utf8')) as unknown as ComposeFile;
}

/** A service's environment as a map (compose allows a map or a list of `KEY=value`). */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf('=');
        return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** The dependencies of a service with their conditions (the list form means `service_started`). */
export function dependenciesOf(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d.condition]));
}

/**
 * Compose variable interpolation: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
 * `${VAR?error}`, `$VAR` and `$$` (a literal `$`). A missing required variable throws its error message.
 */
export function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, name?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
      if (match === '$$') return '$';
      if (bare) return vars[bare] ?? '';
      const value = vars[name!];
      const missing = colon ? !value : value === undefined;
      if (op === '-') return missing ? arg! : value!;
      if (op === '?') {
        if (missing) throw new Error(`${name}: ${arg || 'required'}`);
        return value!;
      }
      return value ?? '';
    },
  );
}

/** Every variable name that compose interpolates somewhere in the text. */
export function interpolatedNames(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
    const name = m[1] ?? m[2];
    if (name) names.add(name);
  }
  return [...names].sort();
}

/** A Go duration as compose writes them (`30s`, `1m30s`, `500ms`) in milliseconds. */
export function durationMs(text: string): number {
  const unit: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw new Error(`not a duration: ${text}`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]], 0);
}

// ---------------------------------------------------------------------------------------------------------
// Dockerfiles

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY, ... */
  keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  from: Instruction;
  image: string;
  name?: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions: comments and blank lines dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i].trim();
    if (first === '' || first.startsWith('#')) continue;
    const start = i + 1;
    let joined = first;
    while (joined.endsWith('\\') && i + 1 < lines.length) {
      joined = joined.slice(0, -1).trimEnd();
      // comment lines inside a continued instruction are skipped, as Docker does
      let next = lines[++i].trim();
      while (next.startsWith('#') && i + 1 < lines.length) next = lines[++i].trim();
      joined = `${joined} ${next}`;
    }
    const m = /^(\S+)\s*(.*)$/.exec(joined)!;
    out.push({ keyword: m[1].toUpperCase(), args: m[2].trim(), line: start });
  }
  return out;
}

/** The instructions grouped by stage (each FROM starts one). */
export function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ from: ins, image: words[0], name: as > 0 ? words[as + 1] : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
    } else {
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return stages;
}

/** The JSON array of an exec-form instruction (`CMD ["node", "x.js"]`), or undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`not a JSON array of strings: ${args}`);
  }
  return parsed as string[];
}

/** Leading `--name=value` flags of an instruction and the rest. */
export function flagsOf(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); m; m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
    flags[m[1]] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** `ENV A=1 B="two words"` (or the legacy `ENV A 1`) as a map. */
export function envOf(args: string): Record<string, string> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const [key, ...value] = args.split(/\s+/);
    return { [key]: value.join(' ') };
  }
  const env: Record<string, string> = {};
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    env[m[1]] = m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2];
  }
  return env;
}

/** Sources and destination of a COPY/ADD (JSON or plain form), flags apart. */
export function copyOf(args: string): { flags: Record<string, string>; sources: string[]; dest: string } {
  const { flags, rest } = flagsOf(args);
  const words = execForm(rest) ?? rest.split(/\s+/);
  return { flags, sources: words.slice(0, -1), dest: words[words.length - 1] };
}

/** The patterns of .dockerignore (comments and blank lines dropped). */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
