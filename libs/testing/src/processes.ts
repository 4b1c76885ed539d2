import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const WORKSPACE_ROOT = resolve(__dirname, '..', '..', '..');

/**
 * Bundles the apps into a private directory under tmp/ (inside the workspace so node_modules resolves),
 * so test files running in parallel never execute a bundle another one is rewriting.
 */
export function buildAppsForTest(name: string): string {
  const outdir = join(WORKSPACE_ROOT, 'tmp', `build-${name}-${process.pid}`);
  mkdirSync(outdir, { recursive: true });
  execFileSync(
    process.execPath,
    [join(WORKSPACE_ROOT, 'tools', 'build.mjs'), '--quiet', '--outdir', outdir],
    {
      stdio: 'inherit',
    },
  );
  return outdir;
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Everything the process wrote so far (logs are JSON lines on stderr). */
  output(): string;
  /** Send a signal and wait for the exit code (null when killed by the signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export function spawnService(
  buildDir: string,
  app: string,
  args: string[],
  env: Record<string, string>,
  name = app,
): ServiceProcess {
  const child = spawn(process.execPath, [join(buildDir, 'apps', app, 'main.js'), ...args], {
    cwd: WORKSPACE_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return {
    name,
    child,
    exited,
    output: () => out,
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with the last value). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
