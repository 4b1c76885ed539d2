import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
import { FIRST_API_KEY_LINE } from '@twinstore/ingest-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('`twins start all`: every service in one process, driven by the CLI', () => {
  let buildDir: string;
  let data: { dir: string; cleanup(): Promise<void> };
  let server: ServiceProcess;
  let env: Record<string, string>;
  let baseUrl: string;
  let adminKey: string;

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
    // TTL 0: a revocation takes effect at the next request
    env = {
      TWINS_DATA_DIR: data.dir,
      TWINS_PORT: String(port),
      TWINS_LOG_LEVEL: 'warn',
      TWINS_AUTH_CACHE_TTL_MS: '0',
    };
    server = spawnService(buildDir, 'twins', ['start', 'all'], env, 'all');
    await waitFor('readyz', async () => (await fetch(`${baseUrl}/readyz`)).status === 200, 30_000);
    // first start on an empty data directory: an admin key, printed once to stdout
    adminKey = await waitFor(
      'first-start key',
      async () => FIRST_API_KEY_LINE.exec(server.output())?.[1],
      5_000,
    );
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
      '--api-key',
      adminKey,
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

  it('`twins keys` creates, lists and revokes keys the running API honours', async () => {
    const created = JSON.parse(
      (await twins(['keys', 'create', '--scopes', 'twins:read,search', '--name', 'reader', '--json'])).stdout,
    ) as { keyId: string; key: string; scopes: string[] };
    expect(created.scopes).toEqual(['twins:read', 'search']);
    const auth = { authorization: `Bearer ${created.key}` };
    expect((await fetch(`${baseUrl}/v1/search?top=1`, { headers: auth })).status).toBe(200);
    const put = await fetch(`${baseUrl}/v1/twins/by-reader`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ markdown: '# no' }),
    });
    expect(put.status).toBe(403);

    const listed = (await twins(['keys', 'list', '--json'])).stdout;
    const keys = JSON.parse(listed) as { keyId: string; name: string; revokedAt?: string }[];
    expect(keys.map((k) => k.name)).toEqual(['first-start admin', 'reader']);
    expect(listed).not.toContain(created.key.split('_').slice(2).join('_'));
    expect(listed).not.toContain(adminKey.split('_').slice(2).join('_'));
    expect(listed).not.toMatch(/secret|hash/i);

    // the server runs with TWINS_AUTH_CACHE_TTL_MS=0: the revocation counts at the next request
    expect((await twins(['keys', 'revoke', created.keyId])).stdout).toContain(`revoked key ${created.keyId}`);
    expect((await fetch(`${baseUrl}/v1/search?top=1`, { headers: auth })).status).toBe(401);
    const after = JSON.parse((await twins(['keys', 'list', '--json'])).stdout) as { revokedAt?: string }[];
    expect(after[1].revokedAt).toEqual(expect.any(String));
    const unknown = await twins(['keys', 'revoke', '0123456789abcdef']).catch((e: { code: number }) => e);
    expect('code' in unknown && unknown.code).toBe(1);
  }, 60_000);

  it('logs no key: the first-start key is on its one stdout line only', () => {
    const output = server.output();
    expect(output.split(adminKey)).toHaveLength(2);
    for (const line of output.split('\n').filter((l) => l.startsWith('{')))
      expect(line).not.toContain('tws_');
  });

  it('runs the indexer as a child process, restarts it when it dies, and indexes what arrived meanwhile', async () => {
    const indexer = await waitFor('indexer child', async () => workerChild(server.child.pid!, 'indexer'));
    process.kill(indexer, 'SIGKILL');
    const put = await fetch(`${baseUrl}/v1/twins/after-indexer-kill`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ markdown: '# Quillfeather\nwritten while the indexer was down' }),
    });
    expect(put.status).toBe(202);
    const restarted = await waitFor('a new indexer child', async () => {
      const pid = workerChild(server.child.pid!, 'indexer');
      return pid !== undefined && pid !== indexer ? pid : undefined;
    });
    expect(restarted).not.toBe(indexer);
    await waitFor(
      'indexed by the restarted indexer',
      async () => {
        const res = await fetch(`${baseUrl}/v1/search?q=quillfeather`, {
          headers: { authorization: `Bearer ${adminKey}` },
        });
        return res.ok && ((await res.json()) as { total: number }).total === 1;
      },
      30_000,
      200,
    );
  }, 60_000);

  it('stops gracefully on SIGTERM, children included', async () => {
    const indexer = workerChild(server.child.pid!, 'indexer');
    expect(indexer).toBeDefined();
    expect(await server.stop('SIGTERM')).toBe(0);
    expect(alive(indexer!)).toBe(false);
  }, 60_000);
});

/** The pid of the parent's child process running `start <name>`, read from /proc (Linux). */
function workerChild(parent: number, name: string): number | undefined {
  const children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/);
  return children
    .filter(Boolean)
    .map(Number)
    .find((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args.at(-3) === 'start' && args.at(-2) === name;
      } catch {
        return false;
      }
    });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
