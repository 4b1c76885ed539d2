/**
 * Throughput of RedisTwinCache against raw ioredis SET/GET of the same 10 KB values, 32 requests in flight,
 * in one run so both see the same server and machine. Not part of the test suite (timings are not asserted).
 *
 *   REDIS_URL=redis://127.0.0.1:6390 node <bundle of this file>
 *
 * Writes only under a random key prefix and deletes those keys at the end.
 */
import { randomBytes } from 'node:crypto';
import { Version, VersionGenerator } from '@twinstore/domain';
import Redis from 'ioredis';
import { RedisTwinCache } from './redis-twin-cache.adapter';

const OPS = Number(process.env['BENCH_OPS'] ?? 20_000);
const IN_FLIGHT = 32;
const LEADS = 5_000;
const SIZE = 10 * 1024;
const ROUNDS = 3;

async function run(label: string, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < OPS) await op(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const perSecond = OPS / seconds;
  console.log(`${label.padEnd(28)} ${Math.round(perSecond).toString().padStart(7)} ops/s`);
  return perSecond;
}

async function main(): Promise<void> {
  const url = process.env['REDIS_URL'];
  if (!url) throw new Error('set REDIS_URL to a Redis you may write to');
  const prefix = `twins-bench-${randomBytes(4).toString('hex')}:`;
  const raw = new Redis(url);
  const cache = new RedisTwinCache({ url, keyPrefix: `${prefix}cache:` });
  const values = Array.from({ length: 64 }, () => randomBytes(SIZE));
  let versionMs = Date.now();
  const generator = new VersionGenerator(() => new Date(versionMs++));
  const rawKey = (i: number) => `${prefix}raw:lead-${i % LEADS}`;
  const leadId = (i: number) => `lead-${i % LEADS}`;

  try {
    for (let round = 1; round <= ROUNDS; round++) {
      console.log(`round ${round}: ${OPS} ops of ${SIZE} bytes, ${IN_FLIGHT} in flight`);
      const versions: Version[] = Array.from({ length: OPS }, () => generator.next());
      await run('raw SET PX', (i) => raw.set(rawKey(i), values[i % values.length], 'PX', 3_600_000));
      await run('RedisTwinCache.set', (i) =>
        cache.set(
          {
            leadId: leadId(i),
            version: versions[i],
            classification: 'hot',
            markdown: values[i % values.length],
          },
          3600,
        ),
      );
      await run('raw GET', (i) => raw.getBuffer(rawKey(i)));
      await run('RedisTwinCache.get', (i) => cache.get(leadId(i)));
    }
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await raw.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    await cache.close();
    await raw.quit();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
