import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { openFsContentStore } from './fs-content-store.adapter';

const ROOT = resolve(__dirname, '../../../../..');
const ROUNDS = 3;
const ACKS_BEFORE_KILL = 10;

interface Op {
  seq: number;
  op: 'put' | 'delete';
  path: string;
  acked: boolean;
}

/** What a path may hold after a kill: the seq of the blob's writer, or null for no blob. */
type PathState = number | null;

async function pollUntil(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs the writer until it has acknowledged some operations, SIGKILLs it at a random moment, returns its log. */
async function runAndKill(bundle: string, dir: string, firstSeq: number): Promise<Op[]> {
  const child: ChildProcess = spawn(process.execPath, [bundle, dir, String(firstSeq)], {
    env: { ...process.env, NODE_PATH: join(ROOT, 'node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_code, signal) => r(signal)));
  let running = true;
  void exited.then(() => (running = false));

  const acks = () => out.split('\n').filter((l) => l.startsWith('A ')).length;
  await pollUntil(() => acks() >= ACKS_BEFORE_KILL || !running, 'the writer to make progress');
  expect(
    running,
    `writer died on its own: ${err}${out.split('\n').find((l) => l.startsWith('E ')) ?? ''}`,
  ).toBe(true);
  await new Promise((r) => setTimeout(r, randomInt(0, 120)));
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const ops = new Map<number, Op>();
  for (const line of out.split('\n')) {
    const [kind, seq, op, path] = line.split(' ');
    if (kind === 'B') ops.set(Number(seq), { seq: Number(seq), op: op as Op['op'], path, acked: false });
    if (kind === 'A') ops.get(Number(seq))!.acked = true;
  }
  return [...ops.values()];
}

describe('FsContentStore crash safety', () => {
  let tmp: TempDir;
  let bundle: string;

  beforeAll(async () => {
    tmp = await makeTempDir('fs-content-store-crash');
    bundle = join(tmp.dir, 'crash-writer.js');
    buildSync({
      absWorkingDir: ROOT,
      entryPoints: [join(__dirname, 'crash-writer.fixture.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      tsconfig: join(ROOT, 'tsconfig.base.json'),
      logLevel: 'error',
    });
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it(`after ${ROUNDS} SIGKILLs mid-write, every blob is whole and every acknowledged write is there`, async () => {
    const dir = join(tmp.dir, 'store');
    const state = new Map<string, PathState>();
    let nextSeq = 0;
    let unacknowledged = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const ops = await runAndKill(bundle, dir, nextSeq);
      nextSeq += 1_000_000;

      // Per path, every operation but possibly the last was acknowledged; the last one may or may not
      // have taken effect.
      const allowed = new Map<string, PathState[]>();
      for (const path of new Set([...state.keys(), ...ops.map((o) => o.path)])) {
        let settled: PathState = state.get(path) ?? null;
        const options: PathState[] = [];
        for (const o of ops.filter((x) => x.path === path)) {
          const after = o.op === 'put' ? o.seq : null;
          if (o.acked) settled = after;
          else options.push(after);
        }
        expect(options.length, `more than one unacknowledged operation on ${path}`).toBeLessThanOrEqual(1);
        allowed.set(path, [settled, ...options]);
      }
      unacknowledged += ops.filter((o) => !o.acked).length;

      const store = openFsContentStore({ dir });
      try {
        const listed = new Map<string, number>();
        for await (const props of store.list('crash/')) {
          const got = await store.get(props.path);
          expect(got, `${props.path} is listed but cannot be read`).not.toBeNull();
          expect(got!.body.length).toBe(props.size);
          expect(createHash('sha256').update(got!.body).digest('hex'), `${props.path} is torn`).toBe(
            props.metadata.sha256,
          );
          listed.set(props.path, Number(props.metadata.seq));
        }
        for (const [path, options] of allowed) {
          const actual = listed.get(path) ?? null;
          expect(options, `${path} holds seq ${actual}`).toContain(actual);
          state.set(path, actual);
        }
        expect([...listed.keys()].every((p) => allowed.has(p))).toBe(true);

        // A kill may leave orphan objects and temp files; collecting them must not touch any live blob.
        await store.collectGarbage({ tempOlderThanMs: 0 });
        for await (const props of store.list('crash/')) {
          const got = await store.get(props.path);
          expect(createHash('sha256').update(got!.body).digest('hex')).toBe(props.metadata.sha256);
        }
      } finally {
        await store.close();
      }
    }
    // The kills must actually have landed mid-operation for this test to mean anything.
    expect(unacknowledged).toBeGreaterThan(0);
  });
});
