/**
 * Bytes the embedded content store writes to disk per markdown byte, and puts/s, for a run of puts of 10 KB
 * bodies into a fresh directory: one put at a time with `--concurrency` in flight (the single-PUT path), or
 * `putMany` groups of `--group`, `--concurrency` groups in flight (the batch path).
 *
 *   node tools/run-bench.mjs bench/content-store-writes.bench.ts [--count 5000] [--mode single|many]
 *     [--group 100] [--concurrency 16] [--size 10240] [--dir tmp/content-store-writes]
 *
 * `write_bytes` is this process's own /proc/self/io figure (file data it dirtied, SQLite's included, at page
 * granularity); `disk` is the sectors written to the device holding the directory from /proc/diskstats
 * (after a final sync: file data, the file system journal and SQLite's checkpoint), so on a shared machine it
 * also counts other writers and is an upper bound. For a figure of the store alone, give it a file system of
 * its own, e.g. as root: `truncate -s 4G /tmp/cs.img && mkfs.ext4 -q -F /tmp/cs.img && mkdir -p /mnt/cs &&
 * mount -o loop /tmp/cs.img /mnt/cs`, then `--dir /mnt/cs/run`.
 *
 * Measured on that set-up (ext4, 2 cores, 5,000 puts of 10 KB), disk bytes per markdown byte: single puts
 * 5.47 one object at a time (before groups) and 3.99 with single puts grouped per event-loop turn; putMany
 * groups of 100: 3.10 with one group in flight, 3.91 with four.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { FsContentStore } from '../libs/adapters/embedded/src/content-store/fs-content-store.adapter';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const count = Number(arg('count', '5000'));
const mode = arg('mode', 'single');
const group = Number(arg('group', '100'));
const concurrency = Number(arg('concurrency', '16'));
const size = Number(arg('size', '10240'));
const dir = resolve(arg('dir', 'tmp/content-store-writes'));

function processWriteBytes(): number {
  const line = readFileSync('/proc/self/io', 'utf8').match(/^write_bytes: (\d+)$/m);
  return Number(line?.[1] ?? 0);
}

/** Sectors written to the whole disk of `dir` (its partition's parent device, or the device itself). */
function deviceWrittenBytes(): number {
  const { dev } = statSync(dir);
  const major = Math.floor(dev / 256);
  const minor = dev % 256;
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (Number(f[0]) === major && Number(f[1]) === minor) return Number(f[9]) * 512;
  }
  return NaN;
}

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  const store = new FsContentStore({ dir });
  const bodies = Array.from({ length: count }, () =>
    Buffer.from(randomBytes((size * 3) / 4).toString('base64')),
  );
  const paths = bodies.map((_, i) => `digital-twins/2026/12/07/${randomBytes(8).toString('hex')}-${i}.md`);
  const markdownBytes = bodies.reduce((n, b) => n + b.length, 0);
  const options = { contentType: 'text/markdown; charset=utf-8', ifNoneMatch: '*' as const };
  execFileSync('sync');
  const io0 = processWriteBytes();
  const disk0 = deviceWrittenBytes();
  const t0 = process.hrtime.bigint();
  if (mode === 'many') {
    const store2 = store as unknown as {
      putMany?: (items: { path: string; body: Buffer; options: typeof options }[]) => Promise<unknown[]>;
    };
    if (!store2.putMany) throw new Error('this build has no putMany');
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next;
          next += group;
          const slice = bodies.slice(i, i + group).map((body, j) => ({ path: paths[i + j], body, options }));
          const outcomes = await store2.putMany!(slice);
          if (outcomes.some((o) => o instanceof Error)) throw new Error('a put failed');
        }
      }),
    );
  } else {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          await store.put(paths[i], bodies[i], options);
        }
      }),
    );
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await store.close();
  execFileSync('sync');
  const io = processWriteBytes() - io0;
  const disk = deviceWrittenBytes() - disk0;
  process.stdout.write(
    `content store, mode ${mode}${mode === 'many' ? ` (groups of ${group}, ${concurrency} in flight)` : ` (${concurrency} in flight)`}: ` +
      `${count} puts of ${size} B, ${(markdownBytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms = ` +
      `${((count * 1000) / ms).toFixed(0)} puts/s; write_bytes ${(io / 1e6).toFixed(1)} MB = ` +
      `${(io / markdownBytes).toFixed(2)} per markdown byte; disk ${(disk / 1e6).toFixed(1)} MB = ` +
      `${(disk / markdownBytes).toFixed(2)} per markdown byte\n`,
  );
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
