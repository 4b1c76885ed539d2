import { BillingMeter, CachedTwin, NO_BILLING_METER, TwinCache } from '@twinstore/application';
import { Classification, CLASSIFICATIONS, isVersion, parseVersion, Version } from '@twinstore/domain';
import Redis, { Cluster } from 'ioredis';
import { INVALIDATE_SCRIPT, SET_SCRIPT } from './redis-twin-cache.scripts';

export interface RedisTwinCacheOptions {
  /** Used when no `client` is given; default `redis://127.0.0.1:6379`. */
  url?: string;
  /** A client owned by the caller: `close()` leaves it open. */
  client?: Redis | Cluster;
  /** Prepended to every key; must not contain `{`, which would break the per-lead hash tag. Default `twins:`. */
  keyPrefix?: string;
  /** Entry TTLs are spread by +-this fraction so a burst of writes does not expire in one burst. Default 0.1. */
  ttlJitter?: number;
  /** How long a deletion (or a version seen) keeps blocking older sets. Default 3600 s, the longest TTL. */
  guardTtlSeconds?: number;
  /** Source of the jitter, in [0, 1); injectable for tests. */
  random?: () => number;
  /** Counts commands (twins_billable_operations_total; Azure bills the cache by the hour, not per command). */
  meter?: BillingMeter;
}

type Arg = string | Buffer | number;
type SetArgs = [entryKey: string, guardKey: string, ...args: Arg[]];

/** The commands `defineCommand` adds; ioredis cannot type them itself. */
interface ScriptCommands {
  twinCacheSet(entryKey: string, guardKey: string, ...args: Arg[]): Promise<number>;
  twinCacheInvalidate(entryKey: string, guardKey: string, ...args: Arg[]): Promise<number>;
}

const DEFAULT_GUARD_TTL_SECONDS = 3600;
const EMPTY = Buffer.alloc(0);

/**
 * TwinCache on Redis. One hash per lead (`v` version, `c` classification, `m` markdown as raw bytes) with a PX
 * TTL, plus a small guard string per lead: the deletion tombstone or the newest version seen. Both keys carry
 * the `{leadId}` hash tag. Every write is one Lua script, so compare-and-set holds across any number of
 * processes; the semantics are the same as MemoryTwinCache's (see there).
 *
 * Markdown is personal data: it is only ever sent to Redis, never logged or put in an error message.
 */
export class RedisTwinCache implements TwinCache {
  private readonly client: (Redis | Cluster) & ScriptCommands;
  private readonly owned: boolean;
  private readonly keyPrefix: string;
  private readonly ttlJitter: number;
  private readonly guardTtlMs: number;
  private readonly random: () => number;
  private readonly meter: BillingMeter;
  private closed = false;

  constructor(options: RedisTwinCacheOptions = {}) {
    this.keyPrefix = options.keyPrefix ?? 'twins:';
    if (this.keyPrefix.includes('{')) throw new RangeError('keyPrefix must not contain "{"');
    this.ttlJitter = options.ttlJitter ?? 0.1;
    if (!(this.ttlJitter >= 0 && this.ttlJitter < 1)) throw new RangeError('ttlJitter must be in [0, 1)');
    this.guardTtlMs = Math.ceil(validTtlSeconds(options.guardTtlSeconds ?? DEFAULT_GUARD_TTL_SECONDS) * 1000);
    this.random = options.random ?? Math.random;
    this.meter = options.meter ?? NO_BILLING_METER;
    this.owned = !options.client;
    // A cache should answer or fail quickly; ioredis' default of 20 retries per command holds callers for seconds.
    const client =
      options.client ?? new Redis(options.url ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
    client.defineCommand('twinCacheSet', { numberOfKeys: 2, lua: SET_SCRIPT });
    client.defineCommand('twinCacheInvalidate', { numberOfKeys: 2, lua: INVALIDATE_SCRIPT });
    this.client = client as (Redis | Cluster) & ScriptCommands;
  }

  async get(leadId: string): Promise<CachedTwin | null> {
    this.meter.record('redis', 'get', 'none');
    const [version, classification, markdown] = await this.client.hmgetBuffer(
      this.entryKey(leadId),
      'v',
      'c',
      'm',
    );
    if (!version || !classification || !markdown) return null;
    const v = version.toString('latin1');
    const c = classification.toString('latin1');
    // Anything else was not written by this adapter (or by an incompatible version of it): treat as a miss.
    if (!isVersion(v) || !isClassification(c)) return null;
    return { leadId, version: v, classification: c, markdown };
  }

  async set(entry: CachedTwin, ttlSeconds: number): Promise<'applied' | 'stale'> {
    this.meter.record('redis', 'set', 'none');
    const applied = await this.client.twinCacheSet(...this.setArgs(entry, ttlSeconds));
    return applied === 1 ? 'applied' : 'stale';
  }

  /**
   * One pipeline of SET scripts (one round trip); Redis runs them in order, so entries of one lead converge
   * on the newest. On a cluster the client splits the commands by node itself.
   */
  async setMany(
    entries: readonly { entry: CachedTwin; ttlSeconds: number }[],
  ): Promise<('applied' | 'stale')[]> {
    if (entries.length === 0) return [];
    const args = entries.map(({ entry, ttlSeconds }) => this.setArgs(entry, ttlSeconds));
    for (let i = 0; i < entries.length; i++) this.meter.record('redis', 'set', 'none');
    const answers = this.client.isCluster
      ? await Promise.all(args.map((a) => this.client.twinCacheSet(...a)))
      : await this.pipelined(args);
    return answers.map((applied) => (applied === 1 ? 'applied' : 'stale'));
  }

  async invalidate(leadId: string, version: Version): Promise<void> {
    this.meter.record('redis', 'delete', 'none');
    await this.client.twinCacheInvalidate(
      this.entryKey(leadId),
      this.guardKey(leadId),
      parseVersion(version),
      this.guardTtlMs,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned && this.client.status !== 'end') await this.client.quit();
  }

  private setArgs(entry: CachedTwin, ttlSeconds: number): SetArgs {
    const version = parseVersion(entry.version);
    const ttlMs = this.jittered(validTtlSeconds(ttlSeconds) * 1000);
    return [
      this.entryKey(entry.leadId),
      this.guardKey(entry.leadId),
      version,
      entry.classification,
      ttlMs > 0 ? entry.markdown : EMPTY,
      ttlMs,
      Math.max(this.guardTtlMs, ttlMs),
    ];
  }

  private async pipelined(args: SetArgs[]): Promise<number[]> {
    const pipeline = this.client.pipeline() as unknown as ScriptCommands & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const a of args) void pipeline.twinCacheSet(...a);
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply]) => {
      if (error) throw error;
      return reply as number;
    });
  }

  private entryKey(leadId: string): string {
    return `${this.keyPrefix}{${leadId}}`;
  }

  private guardKey(leadId: string): string {
    return `${this.keyPrefix}{${leadId}}:guard`;
  }

  private jittered(ms: number): number {
    if (ms <= 0) return 0;
    const factor = 1 + this.ttlJitter * (2 * this.random() - 1);
    return Math.max(1, Math.round(ms * factor));
  }
}

function isClassification(value: string): value is Classification {
  return (CLASSIFICATIONS as readonly string[]).includes(value);
}

function validTtlSeconds(value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError('ttlSeconds must be a finite number >= 0');
  return value;
}
