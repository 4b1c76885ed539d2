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
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isOwnerGone, ownerTag } from '../process-liveness';

const HASH_HEX = /^[0-9a-f]{64}$/;

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

  /** Makes sure the object exists; an existing file of the right size is reused (it can only be complete). */
  async ensure(hash: Buffer, body: Buffer): Promise<void> {
    const file = this.pathOf(hash);
    try {
      if ((await stat(file)).size === body.length) return;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    const tmp = this.tmpName();
    const handle = await open(tmp, 'wx', 0o644);
    try {
      await handle.writeFile(body);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(tmp, file);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fsyncDir(join(file, '..'));
  }

  /** The synchronous twin of ensure(), for use inside a SQLite transaction callback. */
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
