#!/usr/bin/env node
// Runs a TypeScript benchmark: `node tools/run-bench.mjs <file.ts> [args...]`.
// Bundles the file with esbuild (our libs inlined through the tsconfig paths, npm packages external) into
// tmp/run-bench/ inside the repo, so node_modules resolves at run time, then runs it with the given args and
// exits with its exit code. The bundle must not pull in vitest (the `@twinstore/testing` barrel re-exports
// vitest contract suites and vitest refuses to load outside its runner): import test servers by relative path.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry || entry === '--help' || entry === '-h') {
  process.stderr.write('usage: node tools/run-bench.mjs <file.ts> [args...]\n');
  process.exit(entry ? 0 : 2);
}
const entryPath = resolve(process.cwd(), entry);
if (!existsSync(entryPath)) {
  process.stderr.write(`run-bench: no such file: ${entry}\n`);
  process.exit(2);
}

const outdir = join(root, 'tmp', 'run-bench');
mkdirSync(outdir, { recursive: true });
// The pid keeps parallel runs (of the same benchmark, too) from overwriting each other's bundle.
const outfile = join(outdir, `${basename(entryPath, extname(entryPath))}.${process.pid}.cjs`);

let result;
try {
  result = await build({
    absWorkingDir: root,
    entryPoints: [entryPath],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    sourcemap: 'inline',
    tsconfig: 'tsconfig.base.json',
    logLevel: 'warning',
    metafile: true,
    // import() of an external package becomes require(): Node's ESM resolver would refuse the extension-less
    // deep imports the test servers use (e.g. azurite/dist/src/blob/BlobServer).
    supported: { 'dynamic-import': false },
  });
} catch {
  // esbuild has already printed the errors.
  process.exit(1);
}

const vitest = Object.values(result.metafile.outputs)
  .flatMap((o) => o.imports)
  .filter((i) => /^(vitest|@vitest\/)/.test(i.path));
if (vitest.length > 0) {
  const importers = Object.entries(result.metafile.inputs)
    .filter(([, input]) => input.imports.some((i) => /^(vitest|@vitest\/)/.test(i.path)))
    .map(([file]) => file);
  process.stderr.write(
    `run-bench: the bundle of ${relative(root, entryPath)} imports vitest (${[...new Set(vitest.map((i) => i.path))].join(', ')}) ` +
      `through ${importers.join(', ')}; vitest refuses to load outside its runner. Import the test servers by ` +
      `relative path (e.g. ../libs/testing/src/azure-servers), not the @twinstore/testing barrel.\n`,
  );
  rmSync(outfile, { force: true });
  process.exit(1);
}

const child = spawn(process.execPath, ['--enable-source-maps', outfile, ...args], {
  cwd: root,
  stdio: 'inherit',
});
// Ctrl-C reaches the whole process group anyway; a SIGTERM sent to this process alone is passed on, so the
// benchmark can stop what it started.
const forward = (signal) => () => child.kill(signal);
process.on('SIGINT', forward('SIGINT'));
process.on('SIGTERM', forward('SIGTERM'));
child.on('exit', (code, signal) => {
  rmSync(outfile, { force: true });
  process.exit(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1));
});
