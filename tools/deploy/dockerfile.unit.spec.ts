import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { builtinModules } from 'node:module';
import { basename, join } from 'node:path';
import { CONFIG_KEYS, loadConfig, MANAGEMENT_PORTS } from '@twinstore/platform';
import { CONSUMER_NAMES, ConsumerName } from '@twinstore/application';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copyOf,
  dockerignorePatterns,
  envOf,
  execForm,
  flagsOf,
  Instruction,
  parseDockerfile,
  ROOT,
  serviceApps,
  Stage,
  stagesOf,
} from './deploy-files';

const apps = serviceApps();

/** The port each service listens on by default, and the setting that moves it. */
function portOf(app: string): { port: number; setting: string } {
  if (app === 'ingest-api') return { port: loadConfig({}).port, setting: 'TWINS_PORT' };
  if (!(CONSUMER_NAMES as string[]).includes(app)) throw new Error(`${app}: neither the API nor a consumer`);
  return { port: MANAGEMENT_PORTS[app as ConsumerName], setting: 'TWINS_MANAGEMENT_PORT' };
}

function readDockerfile(app: string): { text: string; stages: Stage[] } {
  const text = readFileSync(join(ROOT, 'apps', app, 'Dockerfile'), 'utf8');
  return { text, stages: stagesOf(parseDockerfile(text)) };
}

const only = (stage: Stage, keyword: string): Instruction[] =>
  stage.instructions.filter((i) => i.keyword === keyword);

/** The `node -e` script of the HEALTHCHECK. */
function healthcheckScript(stage: Stage): string {
  const [hc] = only(stage, 'HEALTHCHECK');
  const { rest } = flagsOf(hc.args);
  expect(rest.startsWith('CMD ')).toBe(true);
  const argv = execForm(rest.slice('CMD '.length).trim());
  expect(argv?.slice(0, 2)).toEqual(['node', '-e']);
  expect(argv).toHaveLength(3);
  return argv![2];
}

async function listen(status: number): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.statusCode = req.url === '/healthz' ? status : 404;
    res.end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

/** Runs the script as Docker would (`node -e`), asynchronously so the servers above can answer it. */
function runScript(script: string, env: Record<string, string>): Promise<number | null> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['-e', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: 'ignore',
      timeout: 10_000,
    });
    child.on('error', fail);
    child.on('exit', (code) => done(code));
  });
}

describe.each(apps)('apps/%s/Dockerfile', (app) => {
  const { stages } = readDockerfile(app);
  const [build, runtime] = stages;
  const { port, setting } = portOf(app);

  it('has a build stage and a runtime stage, both on node 20 bookworm-slim, no image without a tag or on latest', () => {
    expect(stages).toHaveLength(2);
    expect(build.name).toBeDefined();
    for (const stage of stages) {
      expect(stage.image).toBe('node:20-bookworm-slim');
      expect(stage.image).toMatch(/^[^:]+:(?!latest$)[\w.-]+$/);
    }
  });

  it('builds with the native toolchain, npm ci, the bundler, then prunes the dev dependencies', () => {
    const runs = only(build, 'RUN').map((r) => r.args);
    const all = runs.join('\n');
    for (const pkg of ['python3', 'make', 'g++'])
      expect(all).toMatch(new RegExp(`apt-get install[^\\n]*\\s${pkg.replace('+', '\\+')}(\\s|$)`));
    const at = (re: RegExp) => runs.findIndex((r) => re.test(r));
    expect(at(/\bnpm ci\b/)).toBeGreaterThanOrEqual(0);
    expect(at(/npm rebuild[^&]*\bbetter-sqlite3\b/)).toBeGreaterThanOrEqual(at(/\bnpm ci\b/));
    expect(at(/\bnode tools\/build\.mjs\b/)).toBeGreaterThan(at(/\bnpm ci\b/));
    expect(all).toMatch(/node tools\/build\.mjs[^\n]*&&\s*npm prune --omit=dev/);
  });

  it('ships only its own bundle, node_modules and package.json, run as a non-root user', () => {
    const copies = only(runtime, 'COPY').map((c) => copyOf(c.args));
    expect(copies.every((c) => c.flags.from === build.name)).toBe(true);
    expect(copies.flatMap((c) => c.sources).sort()).toEqual(
      ['/app/package.json', '/app/node_modules', `/app/dist/apps/${app}`].sort(),
    );
    expect(only(runtime, 'ADD')).toEqual([]);
    const users = only(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1].args).not.toMatch(/^(root|0)(:|$)/);
  });

  it('runs its own bundle with node in exec form (SIGTERM reaches node), in production mode', () => {
    const cmds = only(runtime, 'CMD');
    expect(cmds).toHaveLength(1);
    expect(execForm(cmds[0].args)).toEqual(['node', `dist/apps/${app}/main.js`]);
    expect(only(runtime, 'ENTRYPOINT')).toEqual([]);
    const env = Object.assign({}, ...only(runtime, 'ENV').map((e) => envOf(e.args))) as Record<
      string,
      string
    >;
    expect(env.NODE_ENV).toBe('production');
    expect(Object.keys(env).filter((k) => k.startsWith('TWINS_') && !CONFIG_KEYS.includes(k))).toEqual([]);
    // a container is reached from outside its loopback
    expect(
      loadConfig(Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('TWINS_')))).host,
    ).toBe('0.0.0.0');
  });

  it(`exposes port ${port} and health-checks GET /healthz on it (or on ${setting})`, async () => {
    expect(only(runtime, 'EXPOSE').map((e) => e.args)).toEqual([String(port)]);
    expect(CONFIG_KEYS).toContain(setting);
    const script = healthcheckScript(runtime);
    expect(script).toContain(`process.env.${setting}||${port}`);

    const healthy = await listen(200);
    const sick = await listen(503);
    const closed = await listen(200);
    closed.server.close();
    try {
      const codes = await Promise.all(
        [healthy, sick, closed].map((s) => runScript(script, { [setting]: String(s.port) })),
      );
      expect(codes).toEqual([0, 1, 1]);
      expect(healthy.paths).toEqual(['/healthz']);
    } finally {
      healthy.server.close();
      sick.server.close();
    }
  });
});

describe('the service Dockerfiles together', () => {
  it('differ only in the service name and port (comments aside)', () => {
    const normalized = apps.map((app) => {
      const { port, setting } = portOf(app);
      return parseDockerfile(readDockerfile(app).text)
        .map((i) => `${i.keyword} ${i.args}`)
        .join('\n')
        .replaceAll(app, '<service>')
        .replaceAll(String(port), '<port>')
        .replaceAll(setting, '<port-setting>');
    });
    for (const [i, text] of normalized.entries()) expect(text, apps[i]).toBe(normalized[0]);
  });

  it('the .dockerignore keeps dependencies, build output, data and VCS state out of the build context', () => {
    const patterns = dockerignorePatterns(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
    for (const p of ['node_modules', 'dist', 'data', 'tmp', '.git', '.nx']) expect(patterns).toContain(p);
    // nothing the build stage copies is ignored
    const { stages } = readDockerfile(apps[0]);
    const sources = only(stages[0], 'COPY').flatMap((c) => copyOf(c.args).sources);
    for (const source of sources) {
      expect(
        patterns.filter((p) => p === source || p === source.split('/')[0]),
        source,
      ).toEqual([]);
    }
  });
});

/**
 * Replays the build stage without Docker: copies what its COPY instructions copy into a fresh folder (inside
 * the repository, so the bundler resolves from node_modules as `npm ci` would provide it), runs the same
 * `node tools/build.mjs`, and checks what the runtime stage takes from it.
 */
describe('the build stage, replayed without Docker', () => {
  let context: string;
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };

  beforeAll(() => {
    mkdirSync(join(ROOT, 'tmp'), { recursive: true });
    context = mkdtempSync(join(ROOT, 'tmp', 'docker-build-'));
    const { stages } = readDockerfile(apps[0]);
    const ignored = new Set(dockerignorePatterns(readFileSync(join(ROOT, '.dockerignore'), 'utf8')));
    for (const ins of only(stages[0], 'COPY')) {
      const { flags, sources, dest } = copyOf(ins.args);
      expect(flags.from).toBeUndefined();
      for (const source of sources) {
        const target = dest.endsWith('/') ? join(context, dest, basename(source)) : join(context, dest);
        cpSync(join(ROOT, source), target, {
          recursive: true,
          filter: (from) => !ignored.has(basename(from)),
        });
      }
    }
    const result = spawnSync(process.execPath, ['tools/build.mjs', '--quiet'], {
      cwd: context,
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`build failed:\n${result.stdout}\n${result.stderr}`);
  }, 120_000);

  afterAll(() => {
    if (context) rmSync(context, { recursive: true, force: true });
  });

  it.each(apps)('%s: the bundle the runtime stage copies is built from the copied sources alone', (app) => {
    const { stages } = readDockerfile(app);
    const bundle = only(stages[1], 'COPY')
      .map((c) => copyOf(c.args))
      .flatMap((c) => c.sources)
      .find((s) => s.startsWith('/app/dist/'))!;
    expect(existsSync(join(context, bundle.replace(/^\/app\//, ''), 'main.js'))).toBe(true);
  });

  it.each(apps)('%s: every package the bundle requires survives `npm prune --omit=dev`', (app) => {
    const code = readFileSync(join(context, 'dist', 'apps', app, 'main.js'), 'utf8');
    const required = new Set<string>();
    for (const m of code.matchAll(/\brequire\("([^"]+)"\)/g)) {
      const id = m[1];
      if (id.startsWith('.') || id.startsWith('node:') || builtinModules.includes(id.split('/')[0])) continue;
      required.add(id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : id.split('/')[0]);
    }
    // our libs are inlined (a lib the build stage did not copy would be left as a require)
    expect([...required].filter((pkg) => pkg.startsWith('@twinstore/'))).toEqual([]);
    expect(required.size).toBeGreaterThan(3);
    const pruned = [...required].filter((pkg) => {
      const entry = lock.packages[`node_modules/${pkg}`];
      return !entry || entry.dev === true;
    });
    expect(pruned).toEqual([]);
  });
});
