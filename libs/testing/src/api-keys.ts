import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildSync } from 'esbuild';
import type { ApiScope } from '@twinstore/application';
import { WORKSPACE_ROOT } from './processes';

const run = promisify(execFile);

/**
 * The minting program, run as its own process through the platform's composition (`mintApiKey`): this lib
 * cannot import @twinstore/platform itself, whose tests import this lib (a project cycle), so the import
 * lives in a bundled string instead.
 */
const MINT_PROGRAM = `
import { loadConfig, mintApiKey } from '@twinstore/platform';
const { scopes, name } = JSON.parse(process.env.TWINS_TEST_MINT_KEY ?? '{}');
mintApiKey(loadConfig(), { name, scopes }).then(
  ({ key }) => process.stdout.write(key + '\\n'),
  (e) => { process.stderr.write(String(e && e.stack || e) + '\\n'); process.exit(1); },
);
`;

let bundled: string | undefined;

function mintProgram(): string {
  if (bundled) return bundled;
  const outdir = join(WORKSPACE_ROOT, 'tmp', `mint-api-key-${process.pid}`);
  mkdirSync(outdir, { recursive: true });
  const outfile = join(outdir, 'mint-api-key.js');
  buildSync({
    absWorkingDir: WORKSPACE_ROOT,
    stdin: {
      contents: MINT_PROGRAM,
      resolveDir: WORKSPACE_ROOT,
      loader: 'ts',
      sourcefile: 'mint-api-key.ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    tsconfig: 'tsconfig.base.json',
    logLevel: 'warning',
  });
  process.once('exit', () => rmSync(outdir, { recursive: true, force: true }));
  return (bundled = outfile);
}

/**
 * Mints an API key for services started as separate processes. Call it with the TWINS_* settings the
 * services get (TWINS_DATA_DIR on the embedded profile; the storage settings on azure), before or after
 * they start: the key lands in the store they read and works at once; on the embedded profile an ingest API
 * that finds a key prints no first-start key of its own. Returns the whole key (`tws_<keyId>_<secret>`):
 * send it as `Authorization: Bearer <key>` (or `X-Api-Key`, or `apiKey` of TwinsHttpClient / loadCommand).
 */
export async function createTestApiKey(
  env: Record<string, string>,
  scopes: ApiScope[] = ['admin'],
  name = 'test',
): Promise<string> {
  const { stdout } = await run(process.execPath, [mintProgram()], {
    cwd: WORKSPACE_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env, TWINS_TEST_MINT_KEY: JSON.stringify({ scopes, name }) },
  });
  const key = stdout.trim();
  if (!/^tws_[0-9a-f]{16}_\S+$/.test(key)) throw new Error('minting an API key printed no key');
  return key;
}

/** `Authorization: Bearer <key>`, for `fetch`. */
export const authHeader = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}` });
