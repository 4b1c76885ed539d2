import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  buildAppsForTest,
  freePort,
  makeTempDir,
  ServiceProcess,
  spawnService,
  waitFor,
  WORKSPACE_ROOT,
} from '@twinstore/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('`twins start all`: every service in one process, driven by the CLI', () => {
  let buildDir: string;
  let data: { dir: string; cleanup(): Promise<void> };
  let server: ServiceProcess;
  let env: Record<string, string>;
  let baseUrl: string;

  const twins = (args: string[]) =>
    run(process.execPath, [join(buildDir, 'apps', 'twins', 'main.js'), ...args], {
      cwd: WORKSPACE_ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      maxBuffer: 16 * 1024 * 1024,
    });

  beforeAll(async () => {
    buildDir = buildAppsForTest('e2e-all');
    data = await makeTempDir('twins-all-');
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    env = { TWINS_DATA_DIR: data.dir, TWINS_PORT: String(port), TWINS_LOG_LEVEL: 'warn' };
    server = spawnService(buildDir, 'twins', ['start', 'all'], env, 'all');
    await waitFor('readyz', async () => (await fetch(`${baseUrl}/readyz`)).status === 200, 30_000);
  }, 120_000);

  afterAll(async () => {
    await server?.stop('SIGKILL');
    await data?.cleanup();
  });

  it('`twins load --verify` loads twins that are then readable and searchable', async () => {
    const { stdout, stderr } = await twins([
      'load',
      '--count',
      '200',
      '--concurrency',
      '8',
      '--url',
      baseUrl,
      '--verify',
    ]);
    const out = stdout + stderr;
    expect(out).toMatch(/200/);
    expect(out).toMatch(/twins\/s/);
  }, 180_000);

  it('`twins status` reports empty backlogs and a count per store', async () => {
    await waitFor(
      'backlog drained',
      async () => {
        const { stdout } = await twins(['status', '--json']);
        const status = JSON.parse(stdout) as {
          subscriptions: { subscription: string; active: number; deadLettered: number }[];
          stores: { catalog: number; searchIndex: number; tiers: Record<string, number> };
        };
        return status.subscriptions.every((s) => s.active === 0) ? status : false;
      },
      60_000,
      500,
    ).then((status) => {
      expect(status.subscriptions.map((s) => s.subscription).sort()).toEqual([
        'cache-warmer',
        'indexer',
        'tiering',
        'writer',
      ]);
      expect(status.subscriptions.every((s) => s.deadLettered === 0)).toBe(true);
      expect(status.stores.catalog).toBe(200);
      expect(status.stores.searchIndex).toBe(200);
      expect(Object.values(status.stores.tiers).reduce((a, b) => a + b, 0)).toBe(200);
    });
  }, 90_000);

  it('refuses a bad configuration listing every problem, with exit code 2', async () => {
    const bad = await run(process.execPath, [join(buildDir, 'apps', 'twins', 'main.js'), 'status'], {
      cwd: WORKSPACE_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        TWINS_PORT: 'eighty',
        TWINS_LOG_LEVEL: 'loud',
        TWINS_COLOUR: 'blue',
      },
    }).catch((e: { code: number; stderr: string }) => e);
    expect('code' in bad && bad.code).toBe(2);
    expect((bad as { stderr: string }).stderr).toMatch(/TWINS_PORT/);
    expect((bad as { stderr: string }).stderr).toMatch(/TWINS_LOG_LEVEL/);
    expect((bad as { stderr: string }).stderr).toMatch(/TWINS_COLOUR: unknown setting/);
  });

  it('stops gracefully on SIGTERM', async () => {
    expect(await server.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
