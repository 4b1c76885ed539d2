import { CachedTwin, TwinCache } from '@twinstore/application';
import { parseVersion, Version } from '@twinstore/domain';

export interface MemoryTwinCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 10,000. */
  maxEntries?: number;
  /** Most bytes of markdown kept over all entries. Default 256 MiB. */
  maxBytes?: number;
  /** Most guards (deletion tombstones and version floors) kept; the oldest goes first. Default 100,000. */
  maxGuards?: number;
  /** How long a guard blocks older sets: at least the longest classification TTL. Default 3600 s. */
  guardTtlSeconds?: number;
  /** Milliseconds since the epoch; injected so tests can move time. */
  now?: () => number;
}

interface Entry {
  version: Version;
  classification: CachedTwin['classification'];
  markdown: Buffer;
  expiresAt: number;
}

/**
 * What the cache remembers about a lead after its entry is gone. `deleted` (an invalidation) blocks sets at
 * or below `version`; otherwise (a version the cache has seen) it blocks only older ones, so the current
 * version can be cached again after its entry expired or was evicted.
 */
interface Guard {
  version: Version;
  deleted: boolean;
  expiresAt: number;
}

const DEFAULT_MAX_ENTRIES = 10_000;
const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_GUARDS = 100_000;
const DEFAULT_GUARD_TTL_SECONDS = 3600;
/** Expired entries swept per write: bounded so a write never pays for a whole scan. */
const SWEEP_PER_WRITE = 8;

/**
 * In-process TwinCache for the embedded profile: LRU bounded by entry count and by markdown bytes, a TTL per
 * entry, compare-and-set on version.
 *
 * `set(entry, ttl)` answers `'stale'` when the cache already knows this version or a newer one (a cached
 * entry at >= version, a deletion at >= version, or a version floor above it), else `'applied'`. A TTL of 0
 * (cold leads), or markdown larger than `maxBytes`, stores nothing but still drops an older cached entry and
 * leaves a version floor, so a late event for an older version cannot put stale content back.
 *
 * Every applied set leaves such a floor for `guardTtlSeconds` (or the entry's TTL, if longer), so the CAS
 * still holds after an entry expired or was evicted. Guards are bounded by `maxGuards`; when that bound is
 * hit the oldest guard is forgotten first and its protection ends early.
 */
export class MemoryTwinCache implements TwinCache {
  /** Map order is recency: the front is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  /** Map order is write order, which is expiry order as long as guards share one lifetime. */
  private readonly guards = new Map<string, Guard>();
  private bytes = 0;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxGuards: number;
  private readonly guardTtlMs: number;
  private readonly now: () => number;

  constructor(options: MemoryTwinCacheOptions = {}) {
    this.maxEntries = positiveInteger('maxEntries', options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.maxBytes = positiveInteger('maxBytes', options.maxBytes ?? DEFAULT_MAX_BYTES);
    this.maxGuards = positiveInteger('maxGuards', options.maxGuards ?? DEFAULT_MAX_GUARDS);
    this.guardTtlMs = validTtlSeconds(options.guardTtlSeconds ?? DEFAULT_GUARD_TTL_SECONDS) * 1000;
    this.now = options.now ?? Date.now;
  }

  async get(leadId: string): Promise<CachedTwin | null> {
    const entry = this.entries.get(leadId);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.removeEntry(leadId, entry);
      return null;
    }
    this.entries.delete(leadId);
    this.entries.set(leadId, entry);
    // A copy: the caller may write into the buffer (or hand it to something that does).
    return {
      leadId,
      version: entry.version,
      classification: entry.classification,
      markdown: Buffer.from(entry.markdown),
    };
  }

  async set(entry: CachedTwin, ttlSeconds: number): Promise<'applied' | 'stale'> {
    const version = parseVersion(entry.version);
    const ttlMs = validTtlSeconds(ttlSeconds) * 1000;
    const now = this.now();
    this.sweep(now);
    const store = ttlMs > 0 && entry.markdown.length <= this.maxBytes;

    const guard = this.liveGuard(entry.leadId, now);
    if (guard && (version < guard.version || (version === guard.version && (guard.deleted || !store)))) {
      return 'stale';
    }
    const current = this.entries.get(entry.leadId);
    if (current && current.expiresAt > now && current.version >= version) return 'stale';

    if (current) this.removeEntry(entry.leadId, current);
    if (store) {
      this.entries.set(entry.leadId, {
        version,
        classification: entry.classification,
        // A copy: the caller keeps its buffer and may reuse it.
        markdown: Buffer.from(entry.markdown),
        expiresAt: now + ttlMs,
      });
      this.bytes += entry.markdown.length;
      this.evictOverLimits();
    }
    this.putGuard(entry.leadId, {
      version,
      deleted: false,
      expiresAt: now + Math.max(this.guardTtlMs, ttlMs),
    });
    return 'applied';
  }

  async setMany(
    entries: readonly { entry: CachedTwin; ttlSeconds: number }[],
  ): Promise<('applied' | 'stale')[]> {
    const results: ('applied' | 'stale')[] = [];
    for (const { entry, ttlSeconds } of entries) results.push(await this.set(entry, ttlSeconds));
    return results;
  }

  async invalidate(leadId: string, version: Version): Promise<void> {
    const deletedAt = parseVersion(version);
    const now = this.now();
    this.sweep(now);
    const current = this.entries.get(leadId);
    // Erasure wins: the entry goes even if it is newer than the deletion (a re-created lead is only a miss).
    if (current) this.removeEntry(leadId, current);
    const guard = this.liveGuard(leadId, now);
    if (guard && (deletedAt < guard.version || (deletedAt === guard.version && guard.deleted))) return;
    this.putGuard(leadId, { version: deletedAt, deleted: true, expiresAt: now + this.guardTtlMs });
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.guards.clear();
    this.bytes = 0;
  }

  /** Sizes for metrics and tests. */
  stats(): { entries: number; bytes: number; guards: number } {
    return { entries: this.entries.size, bytes: this.bytes, guards: this.guards.size };
  }

  private liveGuard(leadId: string, now: number): Guard | undefined {
    const guard = this.guards.get(leadId);
    if (guard && guard.expiresAt <= now) {
      this.guards.delete(leadId);
      return undefined;
    }
    return guard;
  }

  private putGuard(leadId: string, guard: Guard): void {
    this.guards.delete(leadId);
    this.guards.set(leadId, guard);
    while (this.guards.size > this.maxGuards) {
      const oldest = this.guards.keys().next().value as string;
      this.guards.delete(oldest);
    }
  }

  private removeEntry(leadId: string, entry: Entry): void {
    this.entries.delete(leadId);
    this.bytes -= entry.markdown.length;
  }

  /** The entry just written is the most recent and fits `maxBytes` alone, so it is never the one evicted. */
  private evictOverLimits(): void {
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [leadId, entry] = this.entries.entries().next().value as [string, Entry];
      this.removeEntry(leadId, entry);
    }
  }

  /** Expired entries nobody reads again would hold their bytes until evicted; the LRU front is where they sit. */
  private sweep(now: number): void {
    let budget = SWEEP_PER_WRITE;
    for (const [leadId, entry] of this.entries) {
      if (budget-- === 0 || entry.expiresAt > now) break;
      this.removeEntry(leadId, entry);
    }
    budget = SWEEP_PER_WRITE;
    for (const [leadId, guard] of this.guards) {
      if (budget-- === 0 || guard.expiresAt > now) break;
      this.guards.delete(leadId);
    }
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function validTtlSeconds(value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError('ttlSeconds must be a finite number >= 0');
  return value;
}
