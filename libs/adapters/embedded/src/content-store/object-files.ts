import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isOwnerGone, ownerTag } from '../process-liveness';

const HASH_HEX = /^[0-9a-f]{64}$/;
/** File system calls of one ensureMany() in flight at once (they run on the libuv thread pool). */
const GROUP_IO_CONCURRENCY = 8;

interface GroupObject {
  hash: Buffer;
  body: Buffer;
  file: string;
  /** Set once the temp file is written; cleared once renamed. */
  tmp?: string;
  error?: Error;
}

/**
 * Immutable, content-addressed object files: `objects/ab/cdef...` named by the sha256 of the bytes. A file only
 * ever appears under its final name through rename() of a fully written and fsynced temp file, so an object
 * file is either absent or complete; identical bodies share one file.
 */
export class ObjectFiles {
  readonly objectsDir: string;
  readonly tmpDir: string;

  constructor(root: string) {
    this.objectsDir = join(root, 'objects');
    this.tmpDir = join(root, 'tmp');
    let created = false;
    for (let i = 0; i < 256; i++) {
      // Created up front (256 tiny dirs) so no write ever has to create and fsync a parent directory.
      const shard = join(this.objectsDir, i.toString(16).padStart(2, '0'));
      if (mkdirSync(shard, { recursive: true }) !== undefined) created = true;
    }
    mkdirSync(this.tmpDir, { recursive: true });
    if (created) {
      fsyncDirSync(this.objectsDir);
      fsyncDirSync(root);
    }
    this.removeDeadWritersTempFilesSync();
  }

  static hash(body: Buffer): Buffer {
    return createHash('sha256').update(body).digest();
  }

  pathOf(hash: Buffer): string {
    const hex = hash.toString('hex');
    return join(this.objectsDir, hex.slice(0, 2), hex.slice(2));
  }

  /**
   * Makes sure each object exists under its final name, durably; an existing file of the right size is reused
   * (it can only be complete). For a group, each step is taken for every object before the next: all temp files
   * written, then all fsynced (concurrent fsyncs share file system journal commits), then renamed, then each
   * shard directory fsynced once for all the objects it received. Returns, per input, the error of that object
   * alone (undefined: durable under its final name).
   */
  async ensureMany(objects: readonly { hash: Buffer; body: Buffer }[]): Promise<(Error | undefined)[]> {
    const byFile = new Map<string, GroupObject>();
    for (const { hash, body } of objects) {
      const file = this.pathOf(hash);
      if (!byFile.has(file)) byFile.set(file, { hash, body, file });
    }
    const group = [...byFile.values()];
    const step = async (items: GroupObject[], fn: (o: GroupObject) => Promise<void>) =>
      eachLimited(
        items.filter((o) => !o.error),
        GROUP_IO_CONCURRENCY,
        (o) => fn(o).catch((e: unknown) => void (o.error = e as Error)),
      );
    await step(group, async (o) => {
      try {
        if ((await stat(o.file)).size === o.body.length) return;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      const tmp = this.tmpName();
      o.tmp = tmp;
      await writeFile(tmp, o.body, { flag: 'wx', mode: 0o644 });
    });
    const written = group.filter((o) => o.tmp !== undefined);
    await step(written, async (o) => {
      const handle = await open(o.tmp!, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    await step(written, async (o) => {
      await rename(o.tmp!, o.file);
      o.tmp = undefined;
    });
    // A failed temp file is removed (best effort; garbage collection reclaims what is left).
    await eachLimited(
      written.filter((o) => o.tmp !== undefined),
      GROUP_IO_CONCURRENCY,
      (o) => unlink(o.tmp!).catch(() => undefined),
    );
    const renamed = written.filter((o) => !o.error);
    const dirs = new Map<string, GroupObject[]>();
    for (const o of renamed) {
      const dir = join(o.file, '..');
      dirs.set(dir, [...(dirs.get(dir) ?? []), o]);
    }
    await eachLimited([...dirs], GROUP_IO_CONCURRENCY, ([dir, members]) =>
      fsyncDir(dir).catch((e: unknown) => {
        for (const o of members) o.error = e as Error;
      }),
    );
    return objects.map(({ hash }) => byFile.get(this.pathOf(hash))!.error);
  }

  /** The synchronous ensureMany() of one object, for use inside a SQLite transaction callback. */
  ensureSync(hash: Buffer, body: Buffer): boolean {
    const file = this.pathOf(hash);
    try {
      if (statSync(file).size === body.length) return false;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const tmp = this.tmpName();
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      let offset = 0;
      while (offset < body.length) offset += writeSync(fd, body, offset, body.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, file);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // the temp file is reclaimed by garbage collection
      }
      throw e;
    }
    fsyncDirSync(join(file, '..'));
    return true;
  }

  /** The bytes, or null when the file is gone; throws if the bytes do not hash to the name (bit rot). */
  async read(hash: Buffer): Promise<Buffer | null> {
    let body: Buffer;
    try {
      body = await readFile(this.pathOf(hash));
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
    if (!ObjectFiles.hash(body).equals(hash)) {
      throw new Error(`object ${hash.toString('hex')} is corrupt: its bytes do not match its sha256`);
    }
    return body;
  }

  unlinkSync(hash: Buffer): boolean {
    try {
      unlinkSync(this.pathOf(hash));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** Every object file's hash, one shard directory at a time. */
  async *scan(): AsyncIterable<Buffer[]> {
    for (let i = 0; i < 256; i++) {
      const shard = i.toString(16).padStart(2, '0');
      let names: string[];
      try {
        names = await readdir(join(this.objectsDir, shard));
      } catch (e) {
        if (isNotFound(e)) continue;
        throw e;
      }
      const hashes = names
        .map((n) => shard + n)
        .filter((hex) => HASH_HEX.test(hex))
        .map((hex) => Buffer.from(hex, 'hex'));
      if (hashes.length > 0) yield hashes;
    }
  }

  /**
   * Removes, at open, the temp files of writers that died mid-write (SIGKILL, OOM, power loss): a temp file is
   * named after its writer process, so those of a process that no longer exists go at once, while those of a
   * live writer (another process sharing the directory) stay. Temp files are never read as content; this only
   * stops them from piling up across crashes. Files of unknown writers are left to removeStaleTempFiles().
   */
  removeDeadWritersTempFilesSync(): number {
    let removed = 0;
    for (const name of readdirSync(this.tmpDir)) {
      if (!name.endsWith('.tmp') || !isOwnerGone(name)) continue;
      try {
        unlinkSync(join(this.tmpDir, name));
        removed++;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    return removed;
  }

  /**
   * Removes temp files left by crashed writers: those of writers known to be gone, and any older than
   * `olderThanMs` (younger ones of unknown writers may belong to a put still in progress).
   */
  async removeStaleTempFiles(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of await readdir(this.tmpDir)) {
      if (!name.endsWith('.tmp')) continue;
      const file = join(this.tmpDir, name);
      try {
        if (!isOwnerGone(name) && (await stat(file)).mtimeMs > cutoff) continue;
        await unlink(file);
        removed++;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    }
    return removed;
  }

  /** `<owner tag>-<random>.tmp`: the writer's host and pid, so a later open can tell whether it died. */
  private tmpName(): string {
    return join(this.tmpDir, `${ownerTag()}-${randomBytes(12).toString('hex')}.tmp`);
  }
}

async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

// Directory fsync makes a rename durable on Linux; platforms that cannot open a directory skip it.
const DIR_FSYNC_UNSUPPORTED = new Set(['EISDIR', 'EPERM', 'EACCES', 'EINVAL']);

async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await handle?.close();
  }
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
