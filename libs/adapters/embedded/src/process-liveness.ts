import { createHash } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Which process on which machine left something behind (a temp file, an idempotency claim), so that another
 * process sharing the data directory can tell a dead owner from a slow one at once instead of waiting out an
 * age or a lease. The embedded profile shares its data directory between processes of one machine.
 *
 * `h<8 hex of sha256(hostname)>-p<pid>`: the host part keeps a pid from being judged on another host (or a
 * container with its own pid namespace and hostname), where it would mean another process.
 */
const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const OWNER_TAG = /^h([0-9a-f]{8})-p([1-9][0-9]{0,9})(?![0-9])/;

export function ownerTag(pid: number = process.pid, host: string = HOST_TAG): string {
  return `h${host}-p${pid}`;
}

/**
 * True only when `value` starts with an owner tag of this host whose process no longer exists. Unknown
 * formats, other hosts, this process and processes that exist (or that we may not signal) are not gone. A pid
 * reused by a new process reads as alive: the caller then falls back on its age or lease rule.
 */
export function isOwnerGone(value: string): boolean {
  const m = OWNER_TAG.exec(value);
  if (!m || m[1] !== HOST_TAG) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
