#!/usr/bin/env node
// Bundles each app into dist/apps/<name>/main.js with esbuild: our libs are inlined (tsconfig paths),
// every npm package stays external and is resolved from node_modules at run time.
import { build } from 'esbuild';
import { readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// --outdir lets tests build a private copy (inside the repo, so node_modules still resolves).
const outIndex = process.argv.indexOf('--outdir');
const outdir = outIndex > 0 ? process.argv[outIndex + 1] : join(root, 'dist');
const apps = readdirSync(join(root, 'apps')).filter((a) =>
  existsSync(join(root, 'apps', a, 'src', 'main.ts')),
);
const started = Date.now();
await Promise.all(
  apps.map((app) =>
    build({
      absWorkingDir: root,
      entryPoints: [join('apps', app, 'src', 'main.ts')],
      outfile: join(outdir, 'apps', app, 'main.js'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      sourcemap: true,
      tsconfig: 'tsconfig.base.json',
      logLevel: 'warning',
    }),
  ),
);
if (!process.argv.includes('--quiet')) {
  console.log(`built ${apps.length} apps into ${outdir}/apps in ${Date.now() - started} ms`);
}
