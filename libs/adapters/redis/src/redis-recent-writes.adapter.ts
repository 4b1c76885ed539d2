import {
  BillingMeter,
  NO_BILLING_METER,
  RECENT_WRITES_HORIZON_MS,
  RecentWrites,
  RecentWritesOptions,
} from '@twinstore/application';
import { parseVersion, TwinRecord, Version } from '@twinstore/domain';
import Redis, { Cluster } from 'ioredis';
import { NOTE_SCRIPT } from './redis-recent-writes.script';

export interface RedisRecentWritesOptions extends RecentWritesOptions {
  /** Used when no `client` is given; default `redis://127.0.0.1:6379`. */
  url?: string;
  /** A client owned by the caller: `close()` leaves it open. */
  client?: Redis | Cluster;
  /** Prepended to every key; must not contain `{`. Default `twins:rw:`. */
  keyPrefix?: string;
  meter?: BillingMeter;
}

interface ScriptCommands {
  recentWritesNote(key: string, version: string, value: string, ttlMs: number): Promise<number>;
}

/** A stored value: the version (26 characters) then `s` (saved) or `d` (deleted), then JSON. */
const VERSION_CHARS = 26;

interface Stored {
  /** When it was noted, on the adapter's clock (epoch ms). */
  t: number;
  r?: TwinRecord;
}

/**
 * RecentWrites on Redis: one string key per lead (`{prefix}{leadId}`, hash-tagged for Cluster) holding the
 * newest record or the deletion, with a PX TTL of the horizon, so Redis itself bounds the keys by the write
 * rate. Every write is one Lua compare-and-set on the version (the key only moves to a newer one); a batch is
 * one pipeline, so a batch of saves costs one round trip. `latest` is one GET. The time noted is kept in the
 * value and compared with the injected clock as well, so expiry is exact for tests and across clock jumps.
 *
 * Records hold metadata (age, income): they are only ever sent to Redis, never logged.
 */
export class RedisRecentWrites implements RecentWrites {
  private readonly client: (Redis | Cluster) & ScriptCommands;
  private readonly owned: boolean;
  private readonly keyPrefix: string;
  private readonly horizonMs: number;
  private readonly now: () => number;
  private readonly meter: BillingMeter;
  private closed = false;

  constructor(options: RedisRecentWritesOptions = {}) {
    this.keyPrefix = options.keyPrefix ?? 'twins:rw:';
    if (this.keyPrefix.includes('{')) throw new RangeError('keyPrefix must not contain "{"');
    this.horizonMs = options.horizonMs ?? RECENT_WRITES_HORIZON_MS;
    if (!(this.horizonMs > 0)) throw new RangeError('horizonMs must be positive');
    this.now = options.now ?? Date.now;
    this.meter = options.meter ?? NO_BILLING_METER;
    this.owned = !options.client;
    const client =
      options.client ?? new Redis(options.url ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 2 });
    client.defineCommand('recentWritesNote', { numberOfKeys: 1, lua: NOTE_SCRIPT });
    this.client = client as (Redis | Cluster) & ScriptCommands;
  }

  async note(records: readonly TwinRecord[]): Promise<void> {
    if (records.length === 0) return;
    const t = this.now();
    const writes = records.map((r) => this.write(r.leadId, parseVersion(r.version), { t, r }));
    this.meter.record('redis', 'set', 'none');
    if (writes.length === 1 || this.client instanceof Cluster) {
      // A Cluster pipeline must stay within one slot; leads spread over all of them.
      await Promise.all(writes.map((w) => this.client.recentWritesNote(...w)));
      return;
    }
    const pipeline = this.client.pipeline();
    for (const w of writes) (pipeline as unknown as ScriptCommands).recentWritesNote(...w);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async latest(leadId: string): Promise<TwinRecord | null> {
    this.meter.record('redis', 'get', 'none');
    const value = await this.client.get(this.key(leadId));
    if (!value || value[VERSION_CHARS] !== 's') return null;
    const stored = JSON.parse(value.slice(VERSION_CHARS + 1)) as Stored;
    return this.now() - stored.t >= this.horizonMs ? null : (stored.r ?? null);
  }

  async forget(leadId: string, version: Version): Promise<void> {
    this.meter.record('redis', 'delete', 'none');
    await this.client.recentWritesNote(...this.write(leadId, parseVersion(version), { t: this.now() }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned && this.client.status !== 'end') await this.client.quit();
  }

  private write(leadId: string, version: Version, stored: Stored): [string, string, string, number] {
    const value = `${version}${stored.r ? 's' : 'd'}${JSON.stringify(stored)}`;
    return [this.key(leadId), version, value, this.horizonMs];
  }

  private key(leadId: string): string {
    return `${this.keyPrefix}{${leadId}}`;
  }
}
