import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  dir: string;
  cleanup(): Promise<void>;
}

/**
 * A fresh directory under the OS temp dir. `prefix` is reduced to plain characters, so it can never steer the
 * path elsewhere. cleanup() is idempotent and retries, because files of a just-killed child process may still
 * be held for a moment.
 */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const safePrefix = prefix.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40) || 'tmp';
  const dir = await mkdtemp(join(tmpdir(), `twinstore-${safePrefix}-`));
  return {
    dir,
    cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }),
  };
}
