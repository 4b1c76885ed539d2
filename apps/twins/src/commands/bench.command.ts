import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { openRawFts5, RawFts5Reader, rawFts5InsertRate } from '@twinstore/adapters-embedded';
import { CONSUMERS } from '@twinstore/application';
import { generatePersona, Persona, Random } from '@twinstore/personas';
import { loadConfig, mintApiKey } from '@twinstore/platform';
import { latencySummary, loadCommand, LoadSummary } from './load.command';

export interface BenchArgs {
  count: number;
  /** Requests in flight (default 16). */
  concurrency?: number;
  /** Twins per `POST /v1/twins:batch` (default 100); 0: one `PUT` per twin. */
  batchSize?: number;
  /** Search queries per class (default 100). */
  queries?: number;
  /** Parent of the work directory (default the OS temp directory): the disk it is on is the one measured. */
  dir?: string;
  out?: NodeJS.WritableStream;
  /** Progress notes (default stderr). */
  note?: (line: string) => void;
}

/** Persona i of the run has seed FIRST_SEED + i: the raw baseline, the load and the queries see the same ones. */
const FIRST_SEED = 1;
const RAW_BATCH = 1000;
const TOP = 50;
/** The drain wait ends once the consumers' counts stood still this long. */
const DRAIN_STALL_MS = 60_000;

/**
 * `twins bench`: one run over the same generated documents of
 * - the raw ceiling: the documents into a bare contentless FTS5 table (`content=''`), transactions of 1000;
 * - the product end to end: `twins start all` as its own process, loaded over HTTP as a user with a big corpus
 *   would (`POST /v1/twins:batch`, 100 per request, 16 in flight), timed until search has every twin and the
 *   four subscriptions are drained;
 * - bytes written to the data directory's disk (/proc/diskstats) and the data directory's size, per markdown
 *   byte;
 * - search latency per query class over HTTP beside the raw table's for the same text;
 * - the peak RSS (VmHWM) of every process of the server.
 * Personas are generated from their seeds as they are needed, never all held: any count up to 1M runs.
 */
export async function benchCommand(args: BenchArgs): Promise<void> {
  const out = args.out ?? process.stdout;
  const say = (s = '') => out.write(`${s}\n`);
  const note = args.note ?? ((s: string) => process.stderr.write(`${s}\n`));
  const count = args.count;
  const concurrency = args.concurrency ?? 16;
  const batchSize = args.batchSize ?? 100;
  const perClass = args.queries ?? 100;
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`count must be an integer >= 1`);
  if (!Number.isSafeInteger(perClass) || perClass < 1)
    throw new RangeError(`queries must be an integer >= 1`);

  const work = mkdtempSync(join(args.dir ?? tmpdir(), 'twins-bench-'));
  const dataDir = join(work, 'data');
  const rawFile = join(work, 'raw.db');
  const disk = diskProbe(work);
  say(
    `twinstore benchmark: ${count} personas (seeds ${FIRST_SEED}..${FIRST_SEED + count - 1}), loader ` +
      `${batchSize > 0 ? `POST /v1/twins:batch, ${batchSize} per request` : 'PUT /v1/twins/{id}, one per twin'}, ` +
      `${concurrency} in flight; node ${process.version}, ${availableParallelism()} cores, load average ` +
      `${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  say(`work directory ${work} on ${disk.describe}`);

  let server: ChildProcess | undefined;
  let memory: ProcessTreeMemory | undefined;
  try {
    // (a) the raw ceiling: only the time inside the insert transactions counts, not generating the personas
    note('raw FTS5 baseline: inserting...');
    const rawDisk0 = disk.written();
    const raw = rawFts5InsertRate(rawFile, personas(count), RAW_BATCH);
    const rawWritten = disk.written() - rawDisk0;
    const markdownBytes = raw.markdownBytes;
    const rawSize = treeBytes(rawFile, true);
    note(`raw FTS5 baseline: ${raw.docs} in ${(raw.elapsedMs / 1000).toFixed(1)} s`);

    // (b) the product end to end, as its own process
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    // a key of our own in the fresh data directory (the server then mints no first-start key)
    const apiKey = (
      await mintApiKey(loadConfig({ TWINS_DATA_DIR: dataDir }), { name: 'bench', scopes: ['admin'] })
    ).key;
    const headers = { authorization: `Bearer ${apiKey}` };
    const child = spawn(process.execPath, [process.argv[1], 'start', 'all'], {
      env: { ...process.env, TWINS_DATA_DIR: dataDir, TWINS_PORT: String(port), TWINS_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    server = child;
    await until(
      async () => (await fetch(`${baseUrl}/readyz`)).ok,
      60_000,
      () => exited(child),
    );
    memory = new ProcessTreeMemory(child.pid!);
    memory.start();

    const disk0 = disk.written();
    const started = performance.now();
    const load = await loadCommand({
      baseUrl,
      count,
      concurrency,
      batchSize,
      seed: FIRST_SEED,
      apiKey,
      keepVersions: false,
      progress: true,
      progressIntervalMs: 10_000,
      out: new Writable({ write: (_c, _e, cb) => cb() }),
    });
    const acceptedMs = performance.now() - started;
    if (load.accepted === 0) throw new Error(`no twin was accepted: ${load.failures[0]?.error ?? ''}`);
    const lastLeadId = generatePersona(FIRST_SEED + count - 1).leadId;
    await until(
      async () => {
        const res = await fetch(`${baseUrl}/v1/search?top=1`, { headers });
        return res.ok && ((await res.json()) as { total: number }).total >= load.accepted;
      },
      Math.max(600_000, count * 10),
      () => exited(child),
    );
    await until(
      async () => (await fetch(`${baseUrl}/v1/twins/${lastLeadId}/metadata`, { headers })).ok,
      600_000,
      () => exited(child),
    );
    const searchableMs = performance.now() - started;
    const writtenWhenSearchable = disk.written() - disk0;
    const drainedMs = await waitForDrain(child.pid!, headers, load.accepted, DRAIN_STALL_MS, () =>
      exited(child),
    ).then((done) => (done ? performance.now() - started : undefined));
    // up to the end of the end-to-end time: the drain grace of a run that never drains is not part of it
    const loadWritten = drainedMs === undefined ? writtenWhenSearchable : disk.written() - disk0;
    const dataSize = treeBytes(dataDir, true);

    // (c) search latency at that size, one query at a time, beside the raw table's for the same text
    note('search: timing the query classes...');
    const reader = openRawFts5(rawFile);
    let classes: ClassResult[];
    try {
      const mix = queryMix(reader, count, perClass, 42);
      classes = await timeClasses(baseUrl, headers, reader, mix);
    } finally {
      reader.close();
    }
    memory.sample();
    const self = readProcessMemory(process.pid);

    report(say, {
      count,
      markdownBytes,
      raw,
      rawWritten,
      rawSize,
      load,
      batchSize,
      acceptedMs,
      searchableMs,
      drainedMs,
      loadWritten,
      dataSize,
      disk,
      classes,
      memory: memory.peaks(),
      self,
    });
  } finally {
    memory?.stop();
    if (server && !exited(server)) {
      const s = server;
      await new Promise((r) => {
        s.once('exit', r);
        s.kill('SIGTERM');
      });
    }
    rmSync(work, { recursive: true, force: true });
  }
}

function* personas(count: number): Generator<Persona> {
  for (let i = 0; i < count; i++) yield generatePersona(FIRST_SEED + i);
}

// ---------------------------------------------------------------------------------------------------------
// the end of a load: every subscription has handled every twin.saved.v1

const SAVED_SUBSCRIPTIONS = Object.entries(CONSUMERS)
  .filter(([, types]) => (types as readonly string[]).includes('twin.saved.v1'))
  .map(([name]) => name);

/**
 * Per subscription, the twin.saved.v1 messages handled to an outcome (retries, `error`, not counted), from
 * `twins_messages_total` in a Prometheus text exposition.
 */
export function savedEventsHandled(metrics: string): Map<string, number> {
  const handled = new Map<string, number>();
  for (const [, labels, value] of metrics.matchAll(/^twins_messages_total\{([^}]*)\} (\S+)$/gm)) {
    const label = (name: string) => new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1];
    const subscription = label('subscription');
    if (!subscription || label('type') !== 'twin.saved.v1' || label('outcome') === 'error') continue;
    handled.set(subscription, (handled.get(subscription) ?? 0) + Number(value));
  }
  return handled;
}

/**
 * True once every subscription of twin.saved.v1 handled `expected` of them, counted over every process of the
 * server (consumers may run in child processes with /metrics of their own); false once the counts stood still
 * for `stallMs` (a consumer stuck, or counters that do not say).
 */
async function waitForDrain(
  root: number,
  headers: Record<string, string>,
  expected: number,
  stallMs: number,
  fatal: () => boolean,
): Promise<boolean> {
  let deadline = Date.now() + stallMs;
  let progress = -1;
  while (Date.now() < deadline) {
    if (fatal()) throw new Error('the server exited');
    try {
      const handled = savedEventsHandled((await scrapeProcessTree(root, headers)).join('\n'));
      if (SAVED_SUBSCRIPTIONS.every((s) => (handled.get(s) ?? 0) >= expected)) return true;
      const sum = [...handled.values()].reduce((a, b) => a + b, 0);
      if (sum !== progress) {
        progress = sum;
        deadline = Date.now() + stallMs;
      }
    } catch {
      // busy; ask again
    }
    await sleep(250); // each scrape costs the server a little CPU
  }
  return false;
}

/** Rows of /proc/<pid>/net/tcp or tcp6: local port, state (0A = listening) and socket inode. */
export function parseProcNetTcp(text: string): { port: number; listening: boolean; inode: string }[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 10)
    .map((f) => ({ port: parseInt(f[1].split(':')[1], 16), listening: f[3] === '0A', inode: f[9] }));
}

/** TCP ports `pid` listens on: its socket inodes (/proc/<pid>/fd) among the listening sockets it sees. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const socket = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (socket) inodes.add(socket);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const file of ['tcp', 'tcp6']) {
    try {
      for (const row of parseProcNetTcp(readFileSync(`/proc/${pid}/net/${file}`, 'utf8'))) {
        if (row.listening && inodes.has(row.inode)) ports.add(row.port);
      }
    } catch {
      // no IPv6
    }
  }
  return [...ports].sort((a, b) => a - b);
}

/**
 * The Prometheus text of every process of the tree below `root` (one /metrics per process: the first of its
 * listening ports that serves one), so counters are complete when consumers run in child processes.
 */
export async function scrapeProcessTree(root: number, headers: Record<string, string>): Promise<string[]> {
  const pids = processTreeNow(root);
  const texts: string[] = [];
  for (const pid of pids) {
    let ports: number[] = [];
    try {
      ports = listeningPorts(pid);
    } catch {
      continue; // exited, or not ours
    }
    for (const port of ports) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`, {
          headers,
          signal: AbortSignal.timeout(5000),
        });
        const text = await res.text();
        if (res.ok && text.includes('# TYPE')) {
          texts.push(text);
          break;
        }
      } catch {
        // not HTTP, or not this one
      }
    }
  }
  return texts;
}

// ---------------------------------------------------------------------------------------------------------
// disk: /proc/diskstats

/** Linux dev_t to major:minor (glibc's gnu_dev_major/minor). */
export function majorMinor(dev: bigint): [number, number] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [Number(major), Number(minor)];
}

export interface DiskstatsRow {
  major: number;
  minor: number;
  name: string;
  sectorsWritten: number;
}

/** /proc/diskstats: field 10 is sectors written, in 512-byte units whatever the device's sector size. */
export function parseDiskstats(text: string): DiskstatsRow[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 10)
    .map((f) => ({ major: Number(f[0]), minor: Number(f[1]), name: f[2], sectorsWritten: Number(f[9]) }));
}

interface DiskProbe {
  describe: string;
  /** Bytes written so far to the device(s) (after a `sync`, so data the page cache holds is counted); NaN if unknown. */
  written(): number;
}

/**
 * The device holding `dir` in /proc/diskstats; when it is not there (overlay, btrfs, network file systems:
 * a device number of their own), every whole disk, said so.
 */
function diskProbe(dir: string): DiskProbe {
  let rows: DiskstatsRow[];
  try {
    rows = parseDiskstats(readFileSync('/proc/diskstats', 'utf8'));
  } catch {
    return { describe: 'an unknown disk (no /proc/diskstats): disk writes not measured', written: () => NaN };
  }
  const [major, minor] = majorMinor(statSync(dir, { bigint: true }).dev);
  const own = rows.find((r) => r.major === major && r.minor === minor);
  const names = own
    ? [own.name]
    : rows
        .filter((r) => existsSync(`/sys/block/${r.name}`) && !/^(loop|ram|zram|sr)/.test(r.name))
        .map((r) => r.name);
  const describe = own
    ? `${own.name} (${major}:${minor})`
    : `device ${major}:${minor}, not in /proc/diskstats: every disk counted (${names.join(', ') || 'none'})`;
  return {
    describe,
    written: () => {
      try {
        execFileSync('sync');
      } catch {
        // counted without the flush, then
      }
      const now = parseDiskstats(readFileSync('/proc/diskstats', 'utf8'));
      return now.filter((r) => names.includes(r.name)).reduce((n, r) => n + r.sectorsWritten * 512, 0);
    },
  };
}

/** Bytes of a file or a directory tree: allocated (du) or apparent; a SQLite file counts its -wal and -shm. */
function treeBytes(path: string, allocated: boolean): number {
  const size = (p: string): number => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return 0;
    }
    if (st.isDirectory()) return readdirSync(p).reduce((n, name) => n + size(join(p, name)), 0);
    return allocated ? st.blocks * 512 : st.size;
  };
  return size(path) + size(`${path}-wal`) + size(`${path}-shm`);
}

// ---------------------------------------------------------------------------------------------------------
// memory: VmHWM of every process of the server

export interface ProcessMemory {
  pid: number;
  command: string;
  /** Peak resident set (VmHWM), bytes. */
  peakRss: number;
}

export function parseVmHwm(status: string): number | undefined {
  const kb = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** `root` and its descendants, from (pid, parent pid) pairs. */
export function processTree(pairs: { pid: number; ppid: number }[], root: number): number[] {
  const children = new Map<number, number[]>();
  for (const { pid, ppid } of pairs) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

function readProcessMemory(pid: number): ProcessMemory | undefined {
  try {
    const peakRss = parseVmHwm(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (peakRss === undefined) return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const main = argv.findIndex((a) => a.endsWith('.js'));
    const command = (main >= 0 ? ['twins', ...argv.slice(main + 1)] : argv).join(' ');
    return { pid, command, peakRss };
  } catch {
    return undefined; // gone, or not Linux
  }
}

/** `root` and every process below it, now (Linux); `[root]` where /proc cannot be listed. */
export function processTreeNow(root: number): number[] {
  try {
    return processTree(processPairs(), root);
  } catch {
    return [root];
  }
}

function processPairs(): { pid: number; ppid: number }[] {
  const pairs: { pid: number; ppid: number }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // the command may hold spaces and parentheses: the fields after it start after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      pairs.push({ pid: Number(name), ppid });
    } catch {
      // exited meanwhile
    }
  }
  return pairs;
}

/**
 * Samples the server's process tree every few seconds and keeps each process's VmHWM: a process that ends
 * before the run does keeps the peak last seen, so a server split in several processes is covered whole.
 */
class ProcessTreeMemory {
  private readonly seen = new Map<number, ProcessMemory>();
  private timer?: NodeJS.Timeout;
  constructor(private readonly root: number) {}

  start(intervalMs = 2000): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  sample(): void {
    for (const pid of processTreeNow(this.root)) {
      const m = readProcessMemory(pid);
      if (m && m.peakRss >= (this.seen.get(pid)?.peakRss ?? 0)) this.seen.set(pid, m);
    }
  }

  peaks(): ProcessMemory[] {
    return [...this.seen.values()];
  }
}

// ---------------------------------------------------------------------------------------------------------
// search: the query classes

export interface BenchQuery {
  /** The query string of GET /v1/search. */
  params: URLSearchParams;
  /** The same text as an FTS5 expression for the raw table; null without text. */
  match: string | null;
}

const CLASS_NAMES = [
  'rare term',
  'common term',
  'two terms',
  'phrase in quotes',
  'filter-only',
  'text + filters + facets',
] as const;
type ClassName = (typeof CLASS_NAMES)[number];

/** Lower-cased words of a text as the unicode61 tokenizer splits them (letters and digits), longer than 2. */
export function words(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => w.length > 2);
}

const quote = (text: string) => `"${text.replace(/"/g, '""')}"`;

/**
 * The query classes, drawn with a seeded generator from personas of the run (so the same count gives the same
 * queries). Document frequencies come from the raw table (a capped count):
 * - rare term: in at most 1 of 10,000 documents (at least 3): names, identifiers;
 * - common term: in more than a quarter of the documents (the case that grows with N);
 * - two terms: two words of one persona's text, as people type them (mostly common words), ANDed;
 * - phrase in quotes: two adjacent words of one persona, quoted;
 * - filter-only: no text; a classification, a location, a tag with an age range, or two classifications with
 *   an income range; newest first;
 * - text + filters + facets: one word of a persona's text, one of those filters, and the three facets.
 */
export function queryMix(raw: RawFts5Reader, count: number, perClass: number, seed: number) {
  const random = new Random(seed);
  const sample = Array.from({ length: Math.min(200, count) }, () =>
    generatePersona(FIRST_SEED + random.int(0, count - 1)),
  );
  const commonCap = Math.ceil(count / 4);
  const rareCap = Math.max(3, Math.floor(count / 10_000));
  const rare: string[] = [];
  const common: string[] = [];
  const candidates = [...new Set(sample.slice(0, 40).flatMap((p) => words(p.markdown)))]
    .filter((w) => !/^\d+$/.test(w))
    .sort();
  // a seeded shuffle, so the 50 of each kind are not all from the start of the alphabet
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  for (const word of candidates) {
    if (rare.length >= 50 && common.length >= 50) break;
    const df = raw.countUpTo(quote(word), commonCap + 1);
    if (df > 0 && df <= rareCap && rare.length < 50) rare.push(word);
    else if (df > commonCap && common.length < 50) common.push(word);
  }
  const running = () => random.pick(words(random.pick(sample).markdown));
  const adjacent = () => {
    const text = words(random.pick(sample).markdown);
    const at = random.int(0, text.length - 2);
    return `"${text[at]} ${text[at + 1]}"`;
  };
  const locations = [...new Set(sample.map((p) => p.metadata.location))].sort();
  const tags = [...new Set(sample.flatMap((p) => p.metadata.tags))].sort();
  const classifications = ['hot', 'warm', 'cold'];
  const filters = (): Record<string, string> => {
    const choice = random.next();
    if (choice < 0.25) return { classification: random.pick(classifications) };
    if (choice < 0.5) return { location: random.pick(locations) };
    if (choice < 0.75) return { tags: random.pick(tags), minAge: '30', maxAge: '60' };
    return {
      classification: `${random.pick(classifications)},${random.pick(classifications)}`,
      minIncome: '50000',
      maxIncome: '150000',
    };
  };
  const query = (q: string | undefined, extra: Record<string, string> = {}): BenchQuery => ({
    params: new URLSearchParams({ ...(q === undefined ? {} : { q }), top: String(TOP), ...extra }),
    match: q === undefined ? null : rawMatch(q),
  });
  const n = (make: () => BenchQuery) => Array.from({ length: perClass }, make);
  const mix: Record<ClassName, BenchQuery[]> = {
    'rare term': rare.length > 0 ? n(() => query(random.pick(rare))) : [],
    'common term': common.length > 0 ? n(() => query(random.pick(common))) : [],
    'two terms': n(() => query(`${running()} ${running()}`)),
    'phrase in quotes': n(() => query(adjacent())),
    'filter-only': n(() => query(undefined, filters())),
    'text + filters + facets': n(() =>
      query(running(), { ...filters(), facets: 'classification,location,tags' }),
    ),
  };
  return mix;
}

/** The raw engine's reading of `q`: quoted parts as phrases, other words as terms, all ANDed. */
export function rawMatch(q: string): string {
  const parts: string[] = [];
  for (const [, phrase, word] of q.matchAll(/"([^"]*)"|(\S+)/g)) {
    const terms = words(phrase ?? word);
    if (terms.length > 0) parts.push(quote(terms.join(' ')));
  }
  return parts.join(' ');
}

interface ClassResult {
  name: ClassName;
  queries: number;
  product: ReturnType<typeof latencySummary>;
  raw?: ReturnType<typeof latencySummary>;
  meanTotal: number;
  failed: number;
}

async function timeClasses(
  baseUrl: string,
  headers: Record<string, string>,
  raw: RawFts5Reader,
  mix: Record<ClassName, BenchQuery[]>,
): Promise<ClassResult[]> {
  const run = async (q: BenchQuery) => {
    const t0 = performance.now();
    const res = await fetch(`${baseUrl}/v1/search?${q.params}`, { headers });
    const body = await res.text();
    const ms = performance.now() - t0;
    const total = res.ok ? (JSON.parse(body) as { total?: number }).total : undefined;
    return { ms, total };
  };
  // warm-up: connections, the JIT and the page cache, a few queries of every class, untimed
  for (const queries of Object.values(mix)) for (const q of queries.slice(0, 3)) await run(q);
  const results: ClassResult[] = [];
  for (const name of CLASS_NAMES) {
    const queries = mix[name];
    const productMs: number[] = [];
    const rawMs: number[] = [];
    let totals = 0;
    let failed = 0;
    for (const q of queries) {
      const r = await run(q);
      productMs.push(r.ms);
      if (r.total === undefined) failed++;
      else totals += r.total;
      if (q.match !== null) {
        const t0 = performance.now();
        raw.top(q.match, TOP);
        rawMs.push(performance.now() - t0);
      }
    }
    results.push({
      name,
      queries: queries.length,
      product: latencySummary(productMs),
      raw: rawMs.length > 0 ? latencySummary(rawMs) : undefined,
      meanTotal: queries.length - failed > 0 ? totals / (queries.length - failed) : 0,
      failed,
    });
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------
// the report

function report(
  say: (s?: string) => void,
  r: {
    count: number;
    markdownBytes: number;
    raw: { docsPerSecond: number; elapsedMs: number };
    rawWritten: number;
    rawSize: number;
    load: LoadSummary;
    batchSize: number;
    acceptedMs: number;
    searchableMs: number;
    drainedMs?: number;
    loadWritten: number;
    dataSize: number;
    disk: DiskProbe;
    classes: ClassResult[];
    memory: ProcessMemory[];
    self?: ProcessMemory;
  },
): void {
  const rate = (ms: number) => (r.load.accepted * 1000) / ms;
  const e2eMs = r.drainedMs === undefined ? r.searchableMs : Math.max(r.searchableMs, r.drainedMs);
  const row = (label: string, value: string, extra = '') =>
    say(`${label.padEnd(66)}${value.padStart(10)}${extra ? `   ${extra}` : ''}`);
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const gb = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1e9).toFixed(3)} GB` : 'n/a');
  const perByte = (bytes: number) =>
    Number.isFinite(bytes) ? `${(bytes / r.markdownBytes).toFixed(2)}x` : 'n/a';
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

  say('');
  say(`${r.count} personas, ${(r.markdownBytes / 1e6).toFixed(1)} MB of markdown`);
  say('');
  row('ingest', 'twins/s', 'elapsed');
  row(
    "raw FTS5 insert: contentless table (content=''), tx of 1000",
    r.raw.docsPerSecond.toFixed(0),
    `${secs(r.raw.elapsedMs)} inside the transactions`,
  );
  row('twinstore: HTTP 202 for every twin (loader done)', rate(r.acceptedMs).toFixed(0), secs(r.acceptedMs));
  row(
    "twinstore: searchable (search total = N, last twin's metadata)",
    rate(r.searchableMs).toFixed(0),
    secs(r.searchableMs),
  );
  row(
    'twinstore: end to end (searchable and 4 subscriptions drained)',
    rate(e2eMs).toFixed(0),
    r.drainedMs === undefined
      ? `${secs(e2eMs)}; drain not seen in /metrics (counts still for ${DRAIN_STALL_MS / 1000} s): searchable only`
      : secs(e2eMs),
  );
  row('end to end / raw FTS5 (goal >= 0.8x)', `${(rate(e2eMs) / r.raw.docsPerSecond).toFixed(2)}x`);
  const l = r.load.latencyMs;
  row(
    `${r.batchSize > 0 ? `batch POST (${r.batchSize} twins)` : 'PUT'} latency p50 / p95 / p99 ms`,
    '',
    `${l.p50.toFixed(1)} / ${l.p95.toFixed(1)} / ${l.p99.toFixed(1)} over ${r.load.requests} requests`,
  );
  row('accepted / failed / client retries', '', `${r.load.accepted} / ${r.load.failed} / ${r.load.retries}`);
  for (const f of r.load.failures.slice(0, 5)) say(`  failed ${f.leadId}: ${f.error}`);

  say('');
  row('disk', 'bytes', 'per markdown byte');
  row('written during the raw FTS5 insert', gb(r.rawWritten), perByte(r.rawWritten));
  row(
    'written during the twinstore load, first request to e2e',
    gb(r.loadWritten),
    `${perByte(r.loadWritten)} (goal <= 4x)`,
  );
  row('raw FTS5 file size', gb(r.rawSize), perByte(r.rawSize));
  row(
    'twinstore data directory size (allocated, du)',
    gb(r.dataSize),
    `${perByte(r.dataSize)} (goal <= 2.5x)`,
  );
  say(
    `  written = sectors written in /proc/diskstats on ${r.disk.describe}, after a sync, before and after; ` +
      'nothing subtracted: every other process writing to that disk meanwhile adds to it',
  );

  say('');
  say(
    `search over ${r.load.accepted} twins, top ${TOP}, one query at a time over HTTP; raw = the same text as ` +
      'a bare ORDER BY rank LIMIT on the raw table, in-process (no HTTP, filters or facets)',
  );
  say(
    `${'class'.padEnd(26)}${'queries'.padStart(8)}${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'p99 ms'.padStart(9)}` +
      `${'raw p50'.padStart(9)}${'raw p99'.padStart(9)}${'mean total'.padStart(12)}`,
  );
  for (const c of r.classes) {
    if (c.queries === 0) {
      say(`${c.name.padEnd(26)}  no term of that frequency in the sample at this size`);
      continue;
    }
    const f = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1)).padStart(9);
    say(
      `${c.name.padEnd(26)}${String(c.queries).padStart(8)}${f(c.product.p50)}${f(c.product.p95)}${f(c.product.p99)}` +
        `${f(c.raw?.p50)}${f(c.raw?.p99)}${c.meanTotal.toFixed(0).padStart(12)}` +
        (c.failed > 0 ? `   ${c.failed} failed` : ''),
    );
  }

  say('');
  say('peak RSS (VmHWM from /proc/<pid>/status, the process tree sampled every 2 s; goal < 512 MiB each)');
  for (const m of r.memory) say(`  ${mb(m.peakRss).padStart(9)}  pid ${m.pid}  ${m.command}`);
  if (r.memory.length === 0) say('  n/a (no /proc)');
  if (r.self)
    say(`  ${mb(r.self.peakRss).padStart(9)}  this process: loader, raw FTS5 baseline, query client`);
  say('');
  say(
    `load average at the end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(
        ' ',
      )} on ${availableParallelism()} cores: other work on the machine slows both sides of every ratio`,
  );
}

// ---------------------------------------------------------------------------------------------------------

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number, fatal: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (fatal()) throw new Error('the server exited');
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
