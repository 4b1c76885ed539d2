import { join } from 'node:path';
import { FacetField, SearchDocument, SearchQuery } from '@twinstore/application';
import { Classification } from '@twinstore/domain';
import { searchTerms } from '../fts-query';
import { rawFts5InsertRate } from '../raw-fts5-baseline';
import { openSqliteSearchIndex } from '../sqlite-search-index';

export interface SearchBenchmarkOptions {
  /** An empty directory for the two database files. */
  dir: string;
  docs: SearchDocument[];
  /** Documents per upsert call (one transaction each). */
  batchSize: number;
  /** Queries per scenario. */
  queries: number;
  /** Seed of the query sampler, so runs are comparable. */
  seed?: number;
}

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** CPU time of this process per query: comparable across runs even when other processes load the machine. */
  cpuMeanMs: number;
  meanTotal: number;
}

export interface InsertRate {
  docsPerSecond: number;
  elapsedMs: number;
  /** Documents per second of this process's CPU time (user + system), a load-independent rate. */
  docsPerCpuSecond: number;
  batchSize: number;
}

export interface SearchBenchmarkReport {
  docs: number;
  meanDocBytes: number;
  index: InsertRate;
  raw: InsertRate;
  search: Record<string, LatencySummary>;
}

/**
 * Indexes `docs` with SqliteSearchIndex and with a bare FTS5 table (same documents, same batch size), then
 * times searches of 1-2 terms drawn from the indexed text, with and without filters and facets.
 */
export async function runSearchBenchmark(options: SearchBenchmarkOptions): Promise<SearchBenchmarkReport> {
  const { docs, batchSize } = options;
  const index = openSqliteSearchIndex({ file: join(options.dir, 'search.db') });
  try {
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let i = 0; i < docs.length; i += batchSize) await index.upsert(docs.slice(i, i + batchSize));
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    const indexCpuMs = cpuMs(process.cpuUsage(cpuBefore));

    const rawDocs = docs.map((d) => ({ id: d.leadId, markdown: d.markdown }));
    const rawCpuBefore = process.cpuUsage();
    const raw = rawFts5InsertRate(join(options.dir, 'raw.db'), rawDocs, batchSize);
    const rawCpuMs = cpuMs(process.cpuUsage(rawCpuBefore));

    const random = mulberry32(options.seed ?? 42);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    // Terms drawn from running text follow the corpus's word frequencies, so most queries hit common words
    // (the expensive case: FTS5 scores every match). Terms drawn uniformly from the distinct vocabulary are
    // mostly rare words, the cheap case. Both are reported.
    const termQueries = (draw: () => string) =>
      Array.from({ length: options.queries }, () =>
        Array.from({ length: random() < 0.5 ? 1 : 2 }, draw).join(' '),
      );
    const textQueries = termQueries(() => pick(searchTerms(pick(docs).markdown).filter((w) => w.length > 2)));
    const vocabulary = [
      ...new Set(docs.slice(0, 2000).flatMap((d) => searchTerms(d.markdown).map((w) => w.toLowerCase()))),
    ].filter((w) => w.length > 2);
    const vocabularyQueries = termQueries(() => pick(vocabulary));
    const locations = [...new Set(docs.flatMap((d) => (d.metadata.location ? [d.metadata.location] : [])))];
    const tags = [...new Set(docs.flatMap((d) => d.metadata.tags))];
    const classes: Classification[] = ['hot', 'warm', 'cold'];
    const filters = (): Partial<SearchQuery> => {
      const choice = random();
      if (choice < 0.25) return { classification: [pick(classes)] };
      if (choice < 0.5) return { location: pick(locations) };
      if (choice < 0.75) return { tags: [pick(tags)], minAge: 30, maxAge: 60 };
      return { classification: [pick(classes), pick(classes)], minIncome: 50_000, maxIncome: 150_000 };
    };
    const allFacets: FacetField[] = ['classification', 'location', 'tags'];
    const base = { top: 20, skip: 0, facets: [] as FacetField[] };

    const scenarios: Record<string, SearchQuery[]> = {
      'text only': textQueries.map((q) => ({ ...base, q })),
      'text only, uniform vocabulary': vocabularyQueries.map((q) => ({ ...base, q })),
      'text + filters': textQueries.map((q) => ({ ...base, q, ...filters() })),
      'text + filters + facets': textQueries.map((q) => ({ ...base, q, ...filters(), facets: allFacets })),
      'filters only (listing)': textQueries.map(() => ({ ...base, ...filters() })),
      'filters only + facets': textQueries.map(() => ({ ...base, ...filters(), facets: allFacets })),
    };
    const search: Record<string, LatencySummary> = {};
    for (const [name, queries] of Object.entries(scenarios)) {
      const timings: number[] = [];
      let totals = 0;
      const cpuStart = process.cpuUsage();
      for (const q of queries) {
        const t0 = process.hrtime.bigint();
        const result = await index.search(q);
        timings.push(Number(process.hrtime.bigint() - t0) / 1e6);
        totals += result.total;
      }
      const cpuMeanMs = Math.round((cpuMs(process.cpuUsage(cpuStart)) / queries.length) * 100) / 100;
      search[name] = { ...summarise(timings), cpuMeanMs, meanTotal: Math.round(totals / queries.length) };
    }
    const meanDocBytes = Math.round(
      docs.reduce((n, d) => n + Buffer.byteLength(d.markdown), 0) / docs.length,
    );
    return {
      docs: docs.length,
      meanDocBytes,
      index: {
        docsPerSecond: (docs.length * 1000) / elapsedMs,
        elapsedMs,
        docsPerCpuSecond: (docs.length * 1000) / indexCpuMs,
        batchSize,
      },
      raw: { ...raw, docsPerCpuSecond: (docs.length * 1000) / rawCpuMs, batchSize },
      search,
    };
  } finally {
    await index.close();
  }
}

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

function summarise(timings: number[]): Pick<LatencySummary, 'p50Ms' | 'p99Ms' | 'meanMs'> {
  const sorted = [...timings].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    p50Ms: round(at(0.5)),
    p99Ms: round(at(0.99)),
    meanMs: round(timings.reduce((a, b) => a + b, 0) / timings.length),
  };
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
