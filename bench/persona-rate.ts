/**
 * How fast the synthetic persona generator runs, so ingest benchmarks can rule it out as the bottleneck.
 *
 *   npx esbuild bench/persona-rate.ts --bundle --platform=node --tsconfig=tsconfig.base.json \
 *     --outfile=tmp/persona-rate.js --log-level=warning && node tmp/persona-rate.js [count]
 *
 * The relative import keeps the vitest-importing contract suites of the `@twinstore/testing` barrel out of
 * the bundle (vitest refuses to load outside its runner).
 */
import { generatePersona } from '@twinstore/personas';

/** Wall time and this process's CPU time: on a busy machine the CPU time is the figure that carries over. */
function measure(count: number, startSeed: number): { ms: number; cpuMs: number; bytes: number } {
  let bytes = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++) bytes += Buffer.byteLength(generatePersona(startSeed + i).markdown);
  const cpu = process.cpuUsage(c0);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, bytes };
}

const count = Number(process.argv[2] ?? 10_000);
measure(500, 1_000_000); // warm-up, so the JIT has compiled the hot paths before we time anything
const runs = [1, 2, 3].map(() => measure(count, 1));
const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
const perSecond = (count * 1000) / best.ms;
const mbPerSecond = best.bytes / 1e6 / (best.ms / 1000);
const bestCpuMs = Math.min(...runs.map((r) => r.cpuMs));
const cpuPerSecond = (count * 1000) / bestCpuMs;
process.stdout.write(
  `generatePersona: ${count} personas, ${(best.bytes / 1e6).toFixed(1)} MB, best of 3: ` +
    `${best.ms.toFixed(0)} ms wall = ${perSecond.toFixed(0)} personas/s, ${mbPerSecond.toFixed(1)} MB/s; ` +
    `${bestCpuMs.toFixed(0)} ms CPU = ${cpuPerSecond.toFixed(0)} personas/s per core, ` +
    `${(bestCpuMs / count).toFixed(3)} ms CPU per persona ` +
    `(wall runs: ${runs.map((r) => r.ms.toFixed(0)).join(', ')} ms)\n`,
);
