import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOC, CONFIG_KEYS, ConfigError, loadConfig } from './config';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({}, '/srv');
    expect(c).toMatchObject({
      port: 8080,
      dataDir: '/srv/data',
      profile: 'embedded',
      bodyLimitBytes: 2 * 1024 * 1024,
    });
    expect(c.redisUrl).toBeUndefined();
    expect(c.tiering).toEqual({
      policy: 'break-even',
      // 10 KiB twins at the bundled prices: Cool pays back after ~4 idle years; Archive never (a cold read
      // rehydrates a whole bundle), so "never" (100 years)
      warmAfterDays: 1536,
      coldAfterDays: 36_500,
      sweepIntervalSeconds: 3600,
      bundleMaxTwins: 1000,
      compactDeadRatio: 0.5,
      rehydrationDelayMs: 0,
      rehydrationPriority: 'standard',
    });
  });

  it('reads every TWINS_* setting', () => {
    const c = loadConfig({
      TWINS_PORT: '0',
      TWINS_DATA_DIR: '/var/twins',
      TWINS_REDIS_URL: 'redis://cache:6379',
      TWINS_BODY_LIMIT_BYTES: '4096',
      TWINS_DOCS_ENABLED: 'false',
    });
    expect(c).toMatchObject({
      port: 0,
      dataDir: '/var/twins',
      redisUrl: 'redis://cache:6379',
      bodyLimitBytes: 4096,
    });
    expect(c.docsEnabled).toBe(false);
  });

  it('lists every problem at once, including unknown settings', () => {
    try {
      loadConfig({
        TWINS_PORT: '99999',
        TWINS_REDIS_URL: 'http://x',
        TWINS_LOG_LEVEL: 'loud',
        TWINS_PROT: '1',
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const problems = (e as ConfigError).problems.join('\n');
      for (const key of ['TWINS_PORT', 'TWINS_REDIS_URL', 'TWINS_LOG_LEVEL', 'TWINS_PROT: unknown setting']) {
        expect(problems).toContain(key);
      }
    }
  });

  it('on the azure profile, lists every missing connection setting at once', () => {
    try {
      loadConfig({ TWINS_PROFILE: 'azure' });
      expect.unreachable();
    } catch (e) {
      const problems = (e as ConfigError).problems.join('\n');
      for (const key of [
        'TWINS_AZURE_BLOB_ACCOUNT_URL',
        'TWINS_AZURE_TABLE_ENDPOINT',
        'TWINS_AZURE_COSMOS_ENDPOINT',
        'TWINS_AZURE_SEARCH_ENDPOINT',
        'TWINS_AZURE_SERVICEBUS_NAMESPACE',
      ]) {
        expect(problems).toContain(key);
      }
    }
  });

  it('lets each port pick its backend on its own', () => {
    const c = loadConfig({
      TWINS_PROFILE: 'azure',
      TWINS_AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      TWINS_CATALOG: 'sqlite',
      TWINS_SEARCH: 'sqlite',
      TWINS_EVENT_BUS: 'sqlite',
    });
    expect(c.adapters).toEqual({
      contentStore: 'azure-blob',
      catalog: 'sqlite',
      search: 'sqlite',
      eventBus: 'sqlite',
      activityStore: 'azure-table',
    });
    expect(
      loadConfig({
        TWINS_SEARCH: 'azure-search',
        TWINS_AZURE_SEARCH_ENDPOINT: 'https://s.search.windows.net',
      }).adapters.search,
    ).toBe('azure-search');
  });

  it('start all: the indexer apart by default; a cache-warmer apart only with a shared cache', () => {
    expect(loadConfig({}).allWorkerProcesses).toEqual(['indexer']);
    expect(loadConfig({ TWINS_ALL_WORKER_PROCESSES: 'none' }).allWorkerProcesses).toEqual([]);
    expect(loadConfig({ TWINS_ALL_WORKER_PROCESSES: 'indexer,writer,indexer' }).allWorkerProcesses).toEqual([
      'indexer',
      'writer',
    ]);
    expect(() => loadConfig({ TWINS_ALL_WORKER_PROCESSES: 'indexer,mailer' })).toThrow(
      /TWINS_ALL_WORKER_PROCESSES/,
    );
    expect(() => loadConfig({ TWINS_ALL_WORKER_PROCESSES: 'cache-warmer' })).toThrow(/TWINS_REDIS_URL/);
    expect(
      loadConfig({ TWINS_ALL_WORKER_PROCESSES: 'cache-warmer', TWINS_REDIS_URL: 'redis://127.0.0.1:6379' })
        .allWorkerProcesses,
    ).toEqual(['cache-warmer']);
  });

  it('refuses tier thresholds in the wrong order', () => {
    expect(() => loadConfig({ TWINS_TIER_WARM_AFTER_DAYS: '400' })).toThrow(ConfigError);
  });

  it('is documented in the README, every setting', () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    for (const [name, def] of CONFIG_DOC) {
      const cell = (text: string) => `\\|\\s*\`${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\`\\s*`;
      expect(readme).toMatch(new RegExp(cell(name) + (def.startsWith('(') ? '' : cell(def)) + '\\|'));
    }
    expect(CONFIG_DOC.map(([name]) => name).sort()).toEqual([...CONFIG_KEYS].sort());
  });
});

describe('tier policy', () => {
  it('fixed: the configured days (the reference policy)', () => {
    const c = loadConfig({
      TWINS_TIER_POLICY: 'fixed',
      TWINS_TIER_WARM_AFTER_DAYS: '30',
      TWINS_TIER_COLD_AFTER_DAYS: '365',
    });
    expect(c.tiering).toMatchObject({ policy: 'fixed', warmAfterDays: 30, coldAfterDays: 365 });
  });

  it('break-even: larger twins pay back sooner', () => {
    const days = (kb: number) => loadConfig({ TWINS_TIER_TYPICAL_TWIN_KB: String(kb) }).tiering.warmAfterDays;
    expect(days(1000)).toBeLessThan(days(100));
    expect(days(100)).toBeLessThan(days(10));
  });

  it('a price table file that cannot be read is a configuration problem, not a crash', () => {
    expect(() => loadConfig({ TWINS_PRICE_TABLE: '/nonexistent/prices.json' })).toThrow(ConfigError);
    expect(() => loadConfig({ TWINS_PRICE_TABLE: '/nonexistent/prices.json' })).toThrow(/TWINS_PRICE_TABLE/);
  });
});
