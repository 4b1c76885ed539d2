/**
 * What SqliteRecentWrites costs per noted save: bytes written (this process's /proc/self/io write_bytes, WAL
 * and checkpoints), CPU and wall time, for notes in batches of 100 with random UUID leads as a load sends
 * them. Not part of the test suite (nothing is asserted).
 *
 *   node tools/run-bench.mjs libs/adapters/embedded/src/recent-writes/sqlite-recent-writes.bench.ts [notes]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentPath, TwinRecord, VersionGenerator } from '@twinstore/domain';
import { openSqliteRecentWrites } from './sqlite-recent-writes.adapter';

const NOTES = Number(process.argv[2] ?? 100_000);
const BATCH = 100;

const writeBytes = () => Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'recent-writes-bench-'));
  const store = openSqliteRecentWrites({ file: join(dir, 'recent-writes.db') });
  const versions = new VersionGenerator(() => new Date());
  const record = (leadId: string): TwinRecord => {
    const version = versions.next();
    return {
      leadId,
      version,
      blobPath: contentPath(leadId, version),
      contentHash: 'ab'.repeat(32),
      size: 12_000,
      savedAt: new Date().toISOString(),
      metadata: {
        age: 40,
        income: 100_000,
        classification: 'hot',
        location: 'Berlin',
        tags: ['a'],
        extra: {},
      },
    };
  };
  try {
    const bytes = writeBytes();
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let n = 0; n < NOTES; n += BATCH) {
      await store.note(Array.from({ length: BATCH }, () => record(randomUUID())));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    console.log(
      `${NOTES} notes, batches of ${BATCH}: ${Math.round(NOTES / seconds)} notes/s, ` +
        `${Math.round((writeBytes() - bytes) / NOTES)} bytes written per note, ` +
        `${((used.user + used.system) / NOTES).toFixed(0)} µs CPU per note`,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
