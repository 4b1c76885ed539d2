import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { costCommand } from './cost.command';

const FIXTURES = join(
  __dirname,
  '..',
  '..',
  '..',
  '..',
  'libs',
  'cost',
  'src',
  'model',
  '__fixtures__',
  'retail-prices',
);

async function run(args: string[], extra: Parameters<typeof costCommand>[1] = {}) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => (stdout += c));
  err.on('data', (c) => (stderr += c));
  const code = await costCommand(args, { out, err, ...extra });
  return { code, stdout, stderr };
}

const SCENARIO = [
  'estimate',
  '--twins',
  '5000000',
  '--avg-kb',
  '10',
  '--writes-per-day',
  '100000',
  '--reads-per-day',
  '500000',
];

describe('twins cost estimate', () => {
  it('prints the cost per service and per tier, storage and operations apart', async () => {
    const { code, stdout } = await run([...SCENARIO, '--hot', '0.02', '--warm', '0.18']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/per service\n\s+storage\s+operations\s+capacity\s+transfer\s+total/);
    for (const service of [
      'Blob Storage',
      'Cosmos DB',
      'Table Storage',
      'AI Search',
      'Service Bus',
      'Redis',
    ]) {
      expect(stdout).toMatch(new RegExp(`\\n${service}\\s+[\\d,]+\\.\\d\\d`));
    }
    expect(stdout).toMatch(/per tier\n[^\n]+\nhot\s[^\n]+\nwarm\s[^\n]+\ncold\s[^\n]+\nshared\s/);
    expect(stdout).toContain('share hot/warm/cold 0.02/0.18/0.8');
    expect(stdout).toContain('rounding: each line is rounded to the cent');
  });

  it('--json gives the breakdown in cents', async () => {
    const { code, stdout } = await run([...SCENARIO, '--json', '--cosmos', 'provisioned', '--regions', '2']);
    expect(code).toBe(0);
    const e = JSON.parse(stdout);
    expect(Object.keys(e.byService)).toEqual([
      'blob',
      'cosmos',
      'table',
      'search',
      'serviceBus',
      'redis',
      'bandwidth',
    ]);
    expect(Object.keys(e.byTier)).toEqual(['hot', 'warm', 'cold', 'shared']);
    expect(Object.keys(e.byService.blob)).toEqual(['storage', 'operations', 'capacity', 'transfer', 'total']);
    expect(Number.isInteger(e.totalCents)).toBe(true);
    expect(e.input).toMatchObject({ twins: 5_000_000, regions: 2, cosmosMode: 'provisioned' });
    expect(e.lines[0]).toMatchObject({ service: 'blob', kind: 'storage', priceKey: 'blob.storage.hot' });
  });

  it('takes a --prices override', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cost-cli-'));
    const file = join(dir, 'prices.json');
    writeFileSync(
      file,
      JSON.stringify({
        prices: {
          'search.s1.unitHour': {
            usd: 0,
            unit: 'search unit-hour',
            source: 'free trial',
            retrieved: '2026-11-01',
          },
        },
      }),
    );
    const base = JSON.parse((await run([...SCENARIO, '--json'])).stdout);
    const free = JSON.parse((await run([...SCENARIO, '--json', '--prices', file])).stdout);
    expect(base.byService.search.total).toBeGreaterThan(0);
    expect(free.byService.search.total).toBe(0);
  });

  it('refuses bad flags with exit code 2', async () => {
    expect((await run(['estimate', '--avg-kb', '10'])).stderr).toMatch(/--twins is required/);
    const bad = await run([...SCENARIO, '--hot', '0.9', '--warm', '0.9', '--cold', '0.9']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/share must add up to 1/);
    expect((await run([...SCENARIO, '--cosmos', 'free'])).code).toBe(2);
    expect((await run([...SCENARIO, '--bogus', '1'])).code).toBe(2);
    expect((await run(['nope'])).code).toBe(2);
  });
});

describe('twins cost prices', () => {
  it('refresh maps the recorded API response and writes a new table', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cost-cli-'));
    const out = join(dir, 'refreshed.json');
    const seen: string[] = [];
    const fetch = async (url: string) => {
      seen.push(url);
      const u = new URL(url);
      const service = /serviceName eq '([^']+)'/.exec(u.searchParams.get('$filter') ?? '')?.[1] ?? '';
      const file = {
        Storage: 'storage',
        'Azure Cosmos DB': 'cosmos',
        'Azure Cognitive Search': 'search',
        'Service Bus': 'servicebus',
        'Redis Cache': 'redis',
      }[service];
      const body = readFileSync(
        join(FIXTURES, `${file}.page${u.searchParams.get('$skip') ? 2 : 1}.json`),
        'utf8',
      );
      return { ok: true, status: 200, json: async () => JSON.parse(body), text: async () => body };
    };
    const { code, stdout } = await run(['prices', 'refresh', '--out', out], {
      fetch,
      now: () => new Date('2026-11-29T00:00:00Z'),
    });
    expect(code).toBe(0);
    expect(seen[0]).toMatch(/^https:\/\/prices\.azure\.com\/api\/retail\/prices\?%24filter=/);
    expect(stdout).toContain('changed blob.storage.hot: 0.0184 -> 0.0208');
    expect(stdout).toContain('kept (meter not found): redis.standard.c5.hour');
    const table = JSON.parse(readFileSync(out, 'utf8'));
    expect(table.prices['blob.ops.hot.write'].usd).toBe(0.065);
    // the written table is usable as --prices
    const { code: estimateCode, stdout: json } = await run([...SCENARIO, '--json', '--prices', out]);
    expect(estimateCode).toBe(0);
    expect(JSON.parse(json).prices.name).toBe('azure-eastus-2026-11-29');
  });

  it('refresh refuses an unknown region before any request', async () => {
    let calls = 0;
    const fetch = async () => {
      calls++;
      throw new Error('no network');
    };
    const { code, stderr } = await run(['prices', 'refresh', '--region', "eastus' or 1 eq 1"], { fetch });
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown region/);
    expect(calls).toBe(0);
  });

  it('show lists each price with its source and date', async () => {
    const { code, stdout } = await run(['prices', 'show']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/blob\.ops\.archive\.read\s+5\.5 per 10K operations\s+2026-11-29\s+FACTS\.md/);
  });
});

describe('twins cost report', () => {
  const metrics = [
    'twins_billable_operations_total{service="blob",operation="write",tier="hot"} 1000',
    'twins_billable_operations_total{service="cosmos",operation="request_units",tier="hot"} 5500',
    'twins_process_start_time_seconds 1764374400',
  ].join('\n');

  it('scrapes /metrics and extrapolates since the process started', async () => {
    const fetch = async () => ({ ok: true, status: 200, json: async () => ({}), text: async () => metrics });
    // 1,000 s after the start
    const now = () => new Date((1764374400 + 1000) * 1000);
    const { code, stdout } = await run(['report', '--metrics-url', 'http://127.0.0.1:9/metrics', '--json'], {
      fetch,
      now,
    });
    expect(code).toBe(0);
    const r = JSON.parse(stdout);
    const write = r.lines.find((l: { operation: string }) => l.operation === 'write');
    expect(write.perMonth).toBeCloseTo((1000 / 1000) * 730 * 3600, 6);
    expect(r.byService.blob).toBe(Math.round(((730 * 3600) / 1e4) * 0.055 * 100));
  });

  it('reads saved scrapes with --metrics-file and --seconds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cost-cli-'));
    const file = join(dir, 'metrics.txt');
    writeFileSync(file, metrics);
    const { code, stdout } = await run(['report', '--metrics-file', file, '--seconds', '3600']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/blob\s+write\s+hot\s+1,000\s+730,000/);
    expect(stdout).toMatch(/TOTAL\s+[\d,]+\.\d\d/);
  });
});
