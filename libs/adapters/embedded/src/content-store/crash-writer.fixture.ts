/**
 * Child process of the crash-safety test (bundled by the test with esbuild, then run with node). Writes and
 * deletes blobs as fast as it can until it is killed, logging each operation to stdout before it starts
 * (`B seq op path`) and after it was acknowledged (`A seq`). Each worker owns its own paths, so a path has
 * at most one operation in flight. The last worker writes groups of its paths with putMany().
 *
 * Usage: node crash-writer.js <dir> <first seq>
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { writeSync } from 'node:fs';
import { openFsContentStore } from './fs-content-store.adapter';

const WORKERS = 4;
const GROUP_WORKER_PATHS = 12;
const PATHS_PER_WORKER = 6;
// A few bodies shared between paths and writers, so object de-duplication and collection race for real.
const SHARED_BODIES = [randomBytes(10_240), Buffer.from('shared\r\n'), Buffer.alloc(0)];

function log(line: string): void {
  writeSync(1, `${line}\n`);
}

function body(): Buffer {
  const roll = randomInt(100);
  if (roll < 25) return SHARED_BODIES[randomInt(SHARED_BODIES.length)];
  if (roll < 30) return randomBytes(randomInt(100_000, 400_000));
  return randomBytes(randomInt(1, 20_000));
}

async function main(): Promise<void> {
  const [dir, firstSeq] = process.argv.slice(2);
  const store = openFsContentStore({ dir });
  let seq = Number(firstSeq);
  const groups = async () => {
    for (;;) {
      const paths = [
        ...new Set(Array.from({ length: randomInt(2, 8) }, () => randomInt(GROUP_WORKER_PATHS))),
      ];
      const items = paths.map((p) => {
        const bytes = body();
        const id = seq++;
        const path = `crash/group/p${p}.md`;
        log(`B ${id} put ${path}`);
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        return {
          id,
          path,
          body: bytes,
          options: { contentType: 'text/markdown', metadata: { seq: String(id), sha256 } },
        };
      });
      const outcomes = await store.putMany(items);
      outcomes.forEach((outcome, i) => {
        if (outcome instanceof Error) throw outcome;
        log(`A ${items[i].id}`);
      });
    }
  };
  await Promise.all([
    groups(),
    ...Array.from({ length: WORKERS }, async (_, worker) => {
      for (;;) {
        const path = `crash/w${worker}/p${randomInt(PATHS_PER_WORKER)}.md`;
        const id = seq++;
        if (randomInt(10) === 0) {
          log(`B ${id} delete ${path}`);
          await store.delete(path);
        } else {
          const bytes = body();
          const current = randomInt(2) === 0 ? await store.head(path) : null;
          log(`B ${id} put ${path}`);
          await store.put(path, bytes, {
            contentType: 'text/markdown',
            metadata: { seq: String(id), sha256: createHash('sha256').update(bytes).digest('hex') },
            ...(current ? { ifMatch: current.etag } : {}),
          });
        }
        log(`A ${id}`);
      }
    }),
  ]);
}

main().catch((e: unknown) => {
  log(`E ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
