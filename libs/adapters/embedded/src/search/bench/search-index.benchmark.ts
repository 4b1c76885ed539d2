import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FacetField, SearchDocument, SearchIndex, SearchQuery } from '@twinstore/application';
import { Classification, parseMetadata, Version } from '@twinstore/domain';
import { generatePersona, Persona } from '@twinstore/personas';
import { openSqlite, SqliteDatabase } from '../../sqlite';
import { searchTerms } from '../fts-query';
import { openSqliteSearchIndex } from '../sqlite-search-index';

export interface SearchBenchmarkOptions {
  /** Directory of the two database files; an index already built there for the same `docs` is reused. */
  dir: string;
  /** Number of personas, generated from seeds 1..docs (the same documents as `npm run bench`). */
  docs: number;
  /** Documents per upsert call (one transaction each). */
  batchSize: number;
  /** Queries per class. */
  queries: number;
  /** Seed of the query sampler, so runs are comparable. */
  seed?: number;
  /** Builds the index again even when one for the same `docs` exists (after a schema change). */
  rebuild?: boolean;
  /** Progress lines (build rate) go here. */
  log?: (line: string) => void;
}

export interface LatencySummary {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

export interface ClassReport {
  queries: number;
  /** Wall-clock time per query, highlights of the page included. */
  index: LatencySummary;
  /**
   * CPU time of this process per query: on a machine other work also loads, wall-clock time includes waiting
   * for a core, CPU time does not.
   */
  indexCpu: LatencySummary;
  /** The same text condition as a bare `ORDER BY rank LIMIT top` on the raw table; absent without text. */
  raw?: LatencySummary;
  rawCpu?: LatencySummary;
  meanTotal: number;
  /** Share of the queries whose total the index reported as an estimate. */
  estimatedShare: number;
  /** The three queries that took the index the most CPU time, for diagnosis. */
  slowest: { cpuMs: number; query: SearchQuery }[];
}

export interface BuildReport {
  docs: number;
  markdownBytes: number;
  /** Documents per second of wall-clock time spent inside `SqliteSearchIndex.upsert`. */
  indexDocsPerSecond: number;
  /** The same documents into a bare contentless FTS5 table, in transactions of the same size. */
  rawDocsPerSecond: number;
  /** Bytes on disk after the build (main file + WAL) per byte of markdown. */
  indexBytesPerMarkdownByte: number;
  rawBytesPerMarkdownByte: number;
  /** A reused build was made by an earlier run (its rates are that run's). */
  reused: boolean;
}

export interface SearchBenchmarkReport {
  build: BuildReport;
  classes: Record<string, ClassReport>;
}

const TOKENIZER = `tokenize = 'porter unicode61 remove_diacritics 2'`;
const MANIFEST = 'manifest.json';

/** The document of persona `seed`, with a save time that grows with the seed (newest = highest seed). */
export function benchDocument(persona: Persona, seed: number, version: Version): SearchDocument {
  return {
    leadId: persona.leadId,
    version,
    markdown: persona.markdown,
    metadata: parseMetadata(persona.metadata),
    savedAt: new Date(Date.UTC(2025, 0, 1) + seed * 1000).toISOString(),
  };
}

/**
 * Fills a search index through `SqliteSearchIndex.upsert` (and a bare contentless FTS5 table beside it, the
 * raw engine) with generated personas, then times a fixed mix of query classes on both. The personas are
 * generated batch by batch, so memory stays flat at any size; the built files are kept and reused, because
 * filling 1M documents takes far longer than querying them.
 */
export async function runSearchBenchmark(options: SearchBenchmarkOptions): Promise<SearchBenchmarkReport> {
  const log = options.log ?? (() => undefined);
  const indexFile = join(options.dir, 'search.db');
  const rawFile = join(options.dir, 'raw.db');
  const build =
    (options.rebuild ? null : loadManifest(options.dir, options.docs)) ??
    (await buildIndexes(options, indexFile, rawFile));

  const index = openSqliteSearchIndex({ file: indexFile });
  const raw = openSqlite(rawFile, { synchronous: 'normal' });
  try {
    const mix = queryMix(raw, options.docs, options.queries, options.seed ?? 42);
    const rawTop = raw.prepare<[string, number]>(
      'SELECT rowid, bm25(raw_fts) FROM raw_fts WHERE raw_fts MATCH ? ORDER BY rank LIMIT ?',
    );
    const classes: Record<string, ClassReport> = {};
    for (const [name, queries] of Object.entries(mix)) {
      classes[name] = await timeClass(index, queries, (q) => rawTop.all(q.match ?? '', q.query.top));
      log(`${name}: ${JSON.stringify(classes[name])}`);
    }
    return { build, classes };
  } finally {
    raw.close();
    await index.close();
  }
}

async function buildIndexes(
  options: SearchBenchmarkOptions,
  indexFile: string,
  rawFile: string,
): Promise<BuildReport> {
  const log = options.log ?? (() => undefined);
  // A partial build (an interrupted run) is started again from nothing.
  rmSync(join(options.dir, MANIFEST), { force: true });
  for (const file of [indexFile, rawFile]) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  }
  const index = openSqliteSearchIndex({ file: indexFile });
  const raw = openSqlite(rawFile, { synchronous: 'normal' });
  raw.exec(`DROP TABLE IF EXISTS raw_fts;
    CREATE VIRTUAL TABLE raw_fts USING fts5 (markdown, content = '', ${TOKENIZER});`);
  const insertRaw = raw.prepare('INSERT INTO raw_fts (rowid, markdown) VALUES (?, ?)');
  const rawBatch = raw.transaction((batch: SearchDocument[], first: number) => {
    batch.forEach((doc, i) => insertRaw.run(first + i, doc.markdown));
  });
  let indexNs = 0n;
  let rawNs = 0n;
  let markdownBytes = 0;
  let reported = Date.now();
  for (let first = 1; first <= options.docs; first += options.batchSize) {
    const batch: SearchDocument[] = [];
    for (let seed = first; seed < first + options.batchSize && seed <= options.docs; seed++) {
      const doc = benchDocument(generatePersona(seed), seed, benchVersion(seed));
      markdownBytes += Buffer.byteLength(doc.markdown);
      batch.push(doc);
    }
    const t0 = process.hrtime.bigint();
    await index.upsert(batch);
    const t1 = process.hrtime.bigint();
    rawBatch.immediate(batch, first);
    rawNs += process.hrtime.bigint() - t1;
    indexNs += t1 - t0;
    if (Date.now() - reported > 10_000) {
      reported = Date.now();
      const done = first + batch.length - 1;
      log(`built ${done}: index ${rate(done, indexNs)} docs/s, raw ${rate(done, rawNs)} docs/s`);
    }
  }
  await index.close();
  raw.pragma('wal_checkpoint(TRUNCATE)');
  raw.close();
  const report: BuildReport = {
    docs: options.docs,
    markdownBytes,
    indexDocsPerSecond: rate(options.docs, indexNs),
    rawDocsPerSecond: rate(options.docs, rawNs),
    indexBytesPerMarkdownByte: round(fileBytes(indexFile) / markdownBytes),
    rawBytesPerMarkdownByte: round(fileBytes(rawFile) / markdownBytes),
    reused: false,
  };
  writeFileSync(join(options.dir, MANIFEST), JSON.stringify(report));
  return report;
}

function loadManifest(dir: string, docs: number): BuildReport | null {
  const file = join(dir, MANIFEST);
  if (!existsSync(file)) return null;
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as BuildReport;
  return manifest.docs === docs ? { ...manifest, reused: true } : null;
}

interface BenchQuery {
  query: SearchQuery;
  /** The FTS5 expression the raw table is queried with, or null without text. */
  match: string | null;
}

/**
 * The query classes, drawn from the same personas with a seeded sampler. Term frequencies are read from the
 * raw table (a capped count), so the classes do not depend on the index under test:
 * - rare term: in at most 1 of 10,000 documents (names, identifiers);
 * - common term: in more than a quarter of the documents (the case that grows with N);
 * - 2 terms: two words of one persona's running text, so mostly common words, as people type them;
 * - phrase: two adjacent words of one persona, quoted;
 * - filter-only: a listing (classification, location, tags + age, income range), newest first;
 * - text + filters + facets: one running-text word, a filter, and all three facets.
 */
function queryMix(raw: SqliteDatabase, docs: number, perClass: number, seed: number) {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const personas = Array.from({ length: 200 }, () => generatePersona(1 + Math.floor(random() * docs)));
  const words = (p: Persona) => searchTerms(p.markdown).filter((w) => w.length > 2);
  const commonCap = Math.ceil(docs / 4);
  const rareCap = Math.max(3, Math.floor(docs / 10_000));
  const cappedCount = raw.prepare<[string, number], number>(
    'SELECT count(*) FROM (SELECT 1 FROM raw_fts WHERE raw_fts MATCH ? LIMIT ?)',
  );
  const df = new Map<string, number>();
  const frequency = (word: string) => {
    const key = word.toLowerCase();
    let n = df.get(key);
    if (n === undefined) df.set(key, (n = cappedCount.pluck().get(quote(key), commonCap + 1) ?? 0));
    return n;
  };
  const rare: string[] = [];
  const common: string[] = [];
  const distinct = [
    ...new Set(
      personas
        .slice(0, 40)
        .flatMap(words)
        .map((w) => w.toLowerCase()),
    ),
  ];
  shuffle(distinct, random);
  for (const word of distinct) {
    if (rare.length >= 50 && common.length >= 50) break;
    if (/^\d+$/.test(word)) continue;
    const n = frequency(word);
    if (n > 0 && n <= rareCap && rare.length < 50) rare.push(word);
    else if (n > commonCap && common.length < 50) common.push(word);
  }
  const running = () => pick(words(pick(personas)));
  const adjacent = () => {
    const text = words(pick(personas));
    const at = Math.floor(random() * (text.length - 1));
    return `"${text[at]} ${text[at + 1]}"`;
  };
  const locations = [...new Set(personas.map((p) => p.metadata.location))];
  const tags = [...new Set(personas.flatMap((p) => p.metadata.tags))];
  const classes: Classification[] = ['hot', 'warm', 'cold'];
  const filters = (): Partial<SearchQuery> => {
    const choice = random();
    if (choice < 0.25) return { classification: [pick(classes)] };
    if (choice < 0.5) return { location: pick(locations) };
    if (choice < 0.75) return { tags: [pick(tags)], minAge: 30, maxAge: 60 };
    return { classification: [pick(classes), pick(classes)], minIncome: 50_000, maxIncome: 150_000 };
  };
  const allFacets: FacetField[] = ['classification', 'location', 'tags'];
  const text = (q: string, extra: Partial<SearchQuery> = {}): BenchQuery => ({
    query: { top: 20, skip: 0, facets: [], q, ...extra },
    match: rawMatch(q),
  });
  const n = Array.from({ length: perClass });
  return {
    'rare term': n.map(() => text(pick(rare))),
    'common term': n.map(() => text(pick(common))),
    '2 terms': n.map(() => text(`${running()} ${running()}`)),
    phrase: n.map(() => text(adjacent())),
    'filter-only': n.map((): BenchQuery => ({
      query: { top: 20, skip: 0, facets: [], ...filters() },
      match: null,
    })),
    'filter-only + facets': n.map((): BenchQuery => ({
      query: { top: 20, skip: 0, ...filters(), facets: allFacets },
      match: null,
    })),
    'text + filters + facets': n.map(() => text(running(), { ...filters(), facets: allFacets })),
  };
}

/** The raw engine's reading of `q`: quoted parts as phrases, other words as terms, all ANDed. */
function rawMatch(q: string): string {
  const parts: string[] = [];
  q.replace(/"([^"]*)"|(\S+)/g, (_m, phrase: string | undefined, word: string | undefined) => {
    const terms = searchTerms(phrase ?? word);
    if (terms.length > 0) parts.push(quote(terms.join(' ')));
    return '';
  });
  return parts.join(' ');
}

const quote = (text: string) => `"${text.replace(/"/g, '""')}"`;

async function timeClass(
  index: SearchIndex,
  queries: BenchQuery[],
  rawQuery: (q: BenchQuery) => unknown,
): Promise<ClassReport> {
  const indexMs: number[] = [];
  const indexCpuMs: number[] = [];
  const rawMs: number[] = [];
  const rawCpuMs: number[] = [];
  const slowest: { cpuMs: number; query: SearchQuery }[] = [];
  let totals = 0;
  let estimated = 0;
  // The page's text, as the application loads it for highlights. Regenerating personas stands in for reading
  // blobs: it is done in an untimed first pass over the queries (which also warms both engines' caches alike),
  // so the timed pass reads them from memory and the garbage of generating them is collected before it.
  const texts = new Map<string, string>();
  for (const q of queries) {
    await index.search(q.query, {
      hitText: async (hits) =>
        hits.map((h) => {
          const text = texts.get(h.version) ?? generatePersona(benchSeed(h.version)).markdown;
          texts.set(h.version, text);
          return text;
        }),
    });
    if (q.match !== null) rawQuery(q);
  }
  const hitText = async (hits: readonly { version: Version }[]) =>
    hits.map((h) => texts.get(h.version) ?? null);
  for (const q of queries) {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const result = await index.search(q.query, { hitText });
    indexMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    indexCpuMs.push(cpuMs(process.cpuUsage(cpu0)));
    slowest.push({ cpuMs: indexCpuMs[indexCpuMs.length - 1], query: q.query });
    totals += result.total;
    if (result.totalIsEstimate) estimated++;
    if (q.match !== null) {
      const cpu1 = process.cpuUsage();
      const t1 = process.hrtime.bigint();
      rawQuery(q);
      rawMs.push(Number(process.hrtime.bigint() - t1) / 1e6);
      rawCpuMs.push(cpuMs(process.cpuUsage(cpu1)));
    }
  }
  return {
    queries: queries.length,
    index: summarise(indexMs),
    indexCpu: summarise(indexCpuMs),
    ...(rawMs.length > 0 ? { raw: summarise(rawMs), rawCpu: summarise(rawCpuMs) } : {}),
    meanTotal: Math.round(totals / queries.length),
    estimatedShare: round(estimated / queries.length),
    slowest: slowest
      .sort((a, b) => b.cpuMs - a.cpuMs)
      .slice(0, 3)
      .map((s) => ({ cpuMs: round(s.cpuMs), query: s.query })),
  };
}

/** Versions that sort by seed, like the ULIDs the product assigns over time. */
function benchVersion(seed: number): Version {
  return `01J0000000${String(seed).padStart(16, '0')}` as Version;
}

const benchSeed = (version: Version) => Number(version.slice(10));

function fileBytes(file: string): number {
  return ['', '-wal'].reduce(
    (n, suffix) => n + (existsSync(file + suffix) ? statSync(file + suffix).size : 0),
    0,
  );
}

const rate = (docs: number, ns: bigint) => Math.round((docs * 1e9) / Number(ns));
const round = (n: number) => Math.round(n * 100) / 100;
const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

function summarise(timings: number[]): LatencySummary {
  const sorted = [...timings].sort((a, b) => a - b);
  const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]);
  return { p50Ms: at(0.5), p95Ms: at(0.95), p99Ms: at(0.99) };
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/** A seeded PRNG so the same queries are drawn on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    let t = (state = (state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
