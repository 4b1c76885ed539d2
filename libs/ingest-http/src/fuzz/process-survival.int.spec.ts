import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildAppsForTest,
  freePort,
  makeTempDir,
  ServiceProcess,
  spawnService,
  TempDir,
  waitFor,
  WORKSPACE_ROOT,
} from '@twinstore/testing';
import { loadConfig, mintApiKey } from '@twinstore/platform';
import { FUZZ_SEED } from './fuzz-harness';

type Shape = 'flow-seq' | 'flow-map' | 'mixed' | 'block-seq';

/** Front matter nested `depth` deep, in the YAML shapes that recurse in the parser. */
function deepFrontMatter(shape: Shape, depth: number): string {
  const value =
    shape === 'flow-seq'
      ? '['.repeat(depth) + ']'.repeat(depth)
      : shape === 'flow-map'
        ? '{a: '.repeat(depth) + '1' + '}'.repeat(depth)
        : shape === 'mixed'
          ? '[{a: '.repeat(depth) + '1' + '}]'.repeat(depth)
          : '\n' + '- '.repeat(depth) + 'x';
  return `---\ndeep: ${value}\n---\n# deep\n`;
}

const shapeArb = fc.constantFrom<Shape>('flow-seq', 'flow-map', 'mixed', 'block-seq');
const deepArb = fc.oneof(fc.integer({ min: 1000, max: 10_000 }), fc.constantFrom(2000, 5000, 9188));

/**
 * Hostile input that aborts the process cannot be tested inside the test process: these properties run the
 * code under test in a child process and require it to survive.
 */
describe('fuzz: processes survive deeply nested front matter', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = join(WORKSPACE_ROOT, 'tmp', `fuzz-survival-${process.pid}`);
    mkdirSync(scratch, { recursive: true });
  });
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  // Found by this suite: YAML flow collections nested a few thousand deep overflowed the stack inside the
  // `yaml` parser, and on a later such document V8, compiling a regexp with the stack exhausted, aborted the
  // whole process ("FATAL ERROR: RegExpCompiler Allocation failed", Node 20) when the caller's stack was
  // shallow (a CLI, e.g. the front-matter fallback of rebuild/recover.ts). Fixed by bounding the nesting with
  // yaml's own (non-recursive) lexer before parsing: libs/domain/src/yaml-nesting.ts.
  it('(7a) documentFromMarkdown refuses any deeply nested front matter without taking the process down', async () => {
    const entry = join(scratch, 'parse-front-matter.ts');
    writeFileSync(
      entry,
      [
        "import { documentFromMarkdown } from '@twinstore/domain';",
        "const docs: string[] = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));",
        'const codes = docs.map((doc) => {',
        '  try { documentFromMarkdown(Buffer.from(doc, "utf8")); return "accepted"; }',
        '  catch (e) { return (e as { code?: string }).code ?? String(e); }',
        '});',
        'console.log(JSON.stringify(codes));',
      ].join('\n'),
    );
    const bundle = join(scratch, 'parse-front-matter.cjs');
    await build({
      absWorkingDir: WORKSPACE_ROOT,
      entryPoints: [entry],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      packages: 'external',
      tsconfig: 'tsconfig.base.json',
      logLevel: 'error',
    });
    await fc.assert(
      // flow sequences: the shape seen aborting the process (7b probes every shape)
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constant<Shape>('flow-seq'), deepArb), { minLength: 2, maxLength: 4 }),
        async (docs) => {
          const child = spawnSync(process.execPath, [bundle], {
            cwd: WORKSPACE_ROOT,
            input: JSON.stringify(docs.map(([shape, depth]) => deepFrontMatter(shape, depth))),
            encoding: 'utf8',
            timeout: 60_000,
          });
          expect(child.error).toBeUndefined();
          const what = `${JSON.stringify(docs)} -> exit ${child.status} ${child.signal ?? ''}\n${child.stderr.slice(0, 300)}`;
          expect(child.signal, what).toBeNull();
          expect(child.status, what).toBe(0);
          expect(JSON.parse(child.stdout), what).toEqual(docs.map(() => 'TWIN.INVALID_DOCUMENT'));
        },
      ),
      // a failing run costs a child process: report the first one, do not shrink
      { seed: FUZZ_SEED, numRuns: 10, endOnFailure: true },
    );
  }, 120_000);

  describe('the bundled ingest-api, as operators run it', () => {
    let tmp: TempDir;
    let service: ServiceProcess;
    let baseUrl: string;
    let buildDir: string;
    let apiKey: string;

    beforeAll(async () => {
      buildDir = buildAppsForTest('fuzz-survival');
      tmp = await makeTempDir('fuzz-survival');
      const port = await freePort();
      baseUrl = `http://127.0.0.1:${port}`;
      apiKey = (
        await mintApiKey(loadConfig({ TWINS_DATA_DIR: tmp.dir }), { name: 'fuzz', scopes: ['admin'] })
      ).key;
      service = spawnService(buildDir, 'ingest-api', [], {
        TWINS_DATA_DIR: tmp.dir,
        TWINS_PORT: String(port),
        TWINS_LOG_LEVEL: 'error',
      });
      await waitFor('readiness', async () => (await fetch(`${baseUrl}/readyz`)).status === 200, 30_000);
    }, 120_000);

    afterAll(async () => {
      await service?.stop('SIGKILL');
      await tmp?.cleanup();
      if (buildDir) rmSync(buildDir, { recursive: true, force: true });
    });

    it('(7b) answers deeply nested front matter with a 400 problem and keeps serving', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(shapeArb, deepArb), { minLength: 2, maxLength: 4 }),
          async (requests) => {
            for (const [shape, depth] of requests) {
              const res = await fetch(`${baseUrl}/v1/twins/deep-${shape}`, {
                method: 'PUT',
                headers: { 'content-type': 'text/markdown', authorization: `Bearer ${apiKey}` },
                body: deepFrontMatter(shape, depth),
              }).catch((e: Error & { cause?: { code?: string } }) => e.cause?.code ?? e.message);
              const what = `${shape} x${depth} in ${JSON.stringify(requests)} -> ${typeof res === 'string' ? res : res.status}\n${service.output().slice(-1500)}`;
              expect(typeof res === 'string' ? res : res.status, what).toBe(400);
              if (typeof res !== 'string') {
                expect(res.headers.get('content-type'), what).toMatch(/^application\/problem\+json/);
              }
              expect((await fetch(`${baseUrl}/healthz`)).status, what).toBe(200);
            }
          },
        ),
        // once the process is dead every run fails: no point shrinking
        { seed: FUZZ_SEED, numRuns: 15, endOnFailure: true },
      );
    }, 120_000);
  });
});
