import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SearchDocument } from '@twinstore/application';
import { parseMetadata, VersionGenerator } from '@twinstore/domain';
import { generatePersonas } from '@twinstore/personas';
import { runSearchBenchmark } from './search-index.benchmark';

/**
 * Usage (bundled, so path aliases resolve):
 *   npx esbuild libs/adapters/embedded/src/search/bench/run-search-bench.ts --bundle --platform=node \
 *     --packages=external --tsconfig=tsconfig.base.json --outfile=tmp/search-bench.js \
 *   && node tmp/search-bench.js --docs 20000 --batch 500 --queries 200
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      docs: { type: 'string', default: '20000' },
      batch: { type: 'string', default: '500' },
      queries: { type: 'string', default: '200' },
      kb: { type: 'string', default: '10' },
    },
  });
  const count = Number(values.docs);
  const kb = Number(values.kb);
  let clock = Date.UTC(2025, 0, 1);
  const versions = new VersionGenerator(() => new Date(clock));
  const docs: SearchDocument[] = [];
  for (const persona of generatePersonas(count, 1, {
    minBytes: (kb - 1) * 1024,
    maxBytes: (kb + 1) * 1024,
  })) {
    clock += 1000;
    docs.push({
      leadId: persona.leadId,
      version: versions.next(),
      markdown: persona.markdown,
      metadata: parseMetadata(persona.metadata),
      savedAt: new Date(clock).toISOString(),
    });
  }
  const dir = await mkdtemp(join(tmpdir(), 'twinstore-search-bench-'));
  try {
    const report = await runSearchBenchmark({
      dir,
      docs,
      batchSize: Number(values.batch),
      queries: Number(values.queries),
    });
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
