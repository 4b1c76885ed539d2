import {
  cacheTtlSeconds,
  Classification,
  contentPath,
  DomainError,
  parseLeadId,
  parseVersion,
  Tier,
  Version,
} from '@twinstore/domain';
import { BlobTier, ContentStore, RecentWrites, TierLedger, TwinCache, TwinCatalog } from '../ports';
import { TwinColdError } from '../tiering/rehydration';
import { AccessRecorder } from './access-recorder';

export interface TwinContent {
  leadId: string;
  version: Version;
  markdown: Buffer;
  classification?: Classification;
  source: 'cache' | 'store';
  /** The storage tier the content was served from (the cache counts as hot). */
  tier: Tier;
}

const TIER_OF_BLOB: Record<BlobTier, Tier> = { hot: 'hot', cool: 'warm', archive: 'cold' };

/**
 * Cache, then catalog and blob. `minVersion` gives read-your-writes: when the projections have not caught up,
 * the version's own day-blob (its path follows from the version) is read from the source of truth. Without
 * an explicit one, the lead's newest version noted in RecentWrites (within its horizon) is the minVersion, so
 * a read right after a 202 answers that version or a newer one however far the writer lags.
 */
export class GetTwinUseCase {
  private readonly inflight = new Map<string, Promise<TwinContent | null>>();

  constructor(
    private readonly cache: TwinCache,
    private readonly catalog: TwinCatalog,
    private readonly content: ContentStore,
    private readonly access: AccessRecorder,
    /** With it, a read of a cold (bundled) twin throws TwinColdError instead of answering not found. */
    private readonly ledger?: TierLedger,
    private readonly recentWrites?: RecentWrites,
  ) {}

  async execute(rawLeadId: string, options: { minVersion?: string } = {}): Promise<TwinContent> {
    const leadId = parseLeadId(rawLeadId);
    const asked = options.minVersion === undefined ? undefined : parseVersion(options.minVersion);
    // The cache is an optimisation: when it is down, reads go to the stores instead of failing. So is the
    // note of a recent write once it is projected, which is nearly always: without it the projections decide.
    const [cached, noted] = await Promise.all([
      this.cache.get(leadId).catch(() => null),
      this.recentWrites?.latest(leadId).catch(() => null),
    ]);
    const minVersion = noted && (!asked || noted.version > asked) ? noted.version : asked;
    let found: TwinContent | null =
      cached && (!minVersion || cached.version >= minVersion)
        ? { ...cached, source: 'cache', tier: 'hot' }
        : null;
    if (!found) found = await this.singleFlight(leadId, minVersion);
    if (!found) throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found`);
    this.access.record(leadId);
    return found;
  }

  /** Concurrent misses for the same twin share one load (no stampede on the store). */
  private singleFlight(leadId: string, minVersion?: Version): Promise<TwinContent | null> {
    const key = `${leadId}@${minVersion ?? ''}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.load(leadId, minVersion).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async throwIfCold(leadId: string, version: Version): Promise<void> {
    const placed = await this.ledger?.locate(leadId);
    if (placed?.tier === 'cold' && placed.location && placed.version >= version) {
      throw new TwinColdError(leadId, placed.version);
    }
  }

  private async load(leadId: string, minVersion?: Version): Promise<TwinContent | null> {
    const record = await this.catalog.get(leadId);
    if (record && (!minVersion || record.version >= minVersion)) {
      const blob = await this.content.get(record.blobPath).catch(async (e: unknown) => {
        // An archived blob cannot be read (Azure): a cold twin if the ledger says so, else the error stands.
        if ((e as { code?: unknown } | null)?.code === 'BLOB.ARCHIVED') {
          await this.throwIfCold(leadId, record.version);
        }
        throw e;
      });
      if (!blob) await this.throwIfCold(leadId, record.version);
      const version = blob?.properties.metadata.version as Version | undefined;
      if (blob && version && version >= record.version) {
        const classification = record.metadata.classification;
        if (version === record.version) {
          await this.cache
            .set({ leadId, version, classification, markdown: blob.body }, cacheTtlSeconds(classification))
            .catch(() => undefined);
        }
        return {
          leadId,
          version,
          markdown: blob.body,
          classification,
          source: 'store',
          tier: TIER_OF_BLOB[blob.properties.tier],
        };
      }
      if (!minVersion) return null;
    }
    if (!minVersion) return null;
    const blob = await this.content.get(contentPath(leadId, minVersion));
    const version = blob?.properties.metadata.version as Version | undefined;
    if (!blob || !version || version < minVersion) return null;
    return {
      leadId,
      version,
      markdown: blob.body,
      source: 'store',
      tier: TIER_OF_BLOB[blob.properties.tier],
    };
  }
}
