import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runSearchBenchmark } from './search-index.benchmark';

/**
 * Search latency per query class at scale, beside the raw FTS5 engine on the same documents:
 *   node tools/run-bench.mjs libs/adapters/embedded/src/search/bench/run-search-bench.ts --docs 100000
 * The built index is kept in --dir (default: $TMPDIR/twinstore-search-bench-<docs>) and reused by the next run
 * with the same --docs; --rebuild builds it again (needed after a schema change).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      docs: { type: 'string', default: '100000' },
      batch: { type: 'string', default: '1000' },
      queries: { type: 'string', default: '200' },
      dir: { type: 'string' },
      rebuild: { type: 'boolean', default: false },
    },
  });
  const docs = Number(values.docs);
  const dir = values.dir ?? join(tmpdir(), `twinstore-search-bench-${docs}`);
  mkdirSync(dir, { recursive: true });
  const report = await runSearchBenchmark({
    dir,
    docs,
    batchSize: Number(values.batch),
    queries: Number(values.queries),
    rebuild: values.rebuild,
    log: (line) => console.error(line),
  });
  console.log(`search benchmark: ${docs} docs in ${dir}`);
  console.log(JSON.stringify(report.build));
  const fmt = (l?: { p50Ms: number; p95Ms: number; p99Ms: number }) =>
    l ? `${l.p50Ms} / ${l.p95Ms} / ${l.p99Ms}` : '-';
  const columns = ['index wall', 'index cpu', 'raw wall', 'raw cpu'].map((c) => c.padEnd(24)).join(' ');
  console.log(`${'p50 / p95 / p99 ms'.padEnd(24)} ${columns} mean total  estimated`);
  for (const [name, c] of Object.entries(report.classes)) {
    const cells = [c.index, c.indexCpu, c.raw, c.rawCpu].map((l) => fmt(l).padEnd(24)).join(' ');
    console.log(`${name.padEnd(24)} ${cells} ${String(c.meanTotal).padStart(10)}  ${c.estimatedShare}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
