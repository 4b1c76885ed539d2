import {
  AzureKeyCredential,
  IndexDocumentsAction,
  IndexDocumentsBatch,
  SearchClient,
  SearchIndexClient,
  SearchOptions,
} from '@azure/search-documents';
import type { TokenCredential } from '@azure/core-auth';
import { DefaultAzureCredential } from '@azure/identity';
import {
  ApplyResult,
  BillingMeter,
  FacetCount,
  FacetField,
  SearchDocument,
  SearchHit,
  SearchIndex,
  SearchQuery,
  SearchResult,
} from '@twinstore/application';
import { Classification, isLeadId, parseLeadId, Version } from '@twinstore/domain';
import { HIGHLIGHT_POST_TAG, HIGHLIGHT_PRE_TAG, highlightToHtml, indexableMarkdown } from './highlight-html';
import { odataNumber, odataSearchIn, odataString } from './odata';
import { toSimpleQuery } from './search-text';
import { DEFAULT_SEARCH_INDEX_NAME, TwinIndexDocument, twinIndexDefinition } from './twin-index-definition';

export interface AzureSearchIndexOptions {
  /** `https://{service}.search.windows.net` (or a test server's `http://` endpoint). */
  endpoint: string;
  /** Default `digital-twins`. */
  indexName?: string;
  /** Admin key. Without it, `credential` (or DefaultAzureCredential) is used with Entra ID roles. */
  apiKey?: string;
  credential?: TokenCredential;
  /** Only for local test servers on plain HTTP. */
  allowInsecureConnection?: boolean;
  /** See RecentVersions; default 30 s, 0 turns the memory off. */
  recentWriteMemoryMs?: number;
  /** Counts queries and indexed documents (twins_billable_operations_total; billed by search unit, not per call). */
  meter?: BillingMeter;
}

/** Values per facet, most frequent first: the service's default, and what the embedded profile returns. */
export const AZURE_SEARCH_FACET_LIMIT = 10;
/** Asked of the service per facet: headroom to merge location spellings and to break count ties by value. */
const FACET_REQUEST_COUNT = 50;
/** The service's per-request limits are 1000 actions and 16 MB; a margin keeps JSON framing under the cap. */
export const MAX_ACTIONS_PER_BATCH = 1000;
export const MAX_BATCH_BYTES = 15 * 1024 * 1024;
/** `top` cannot exceed 1000, so versions are read for at most this many leads per request. */
const MAX_LEADS_PER_LOOKUP = 1000;
/**
 * Markdown beyond this many characters is not indexed. Even fully escaped (6 bytes per character) it fits a
 * request, and a twin is found by its first two million characters or not at all in practice.
 */
export const MAX_INDEXED_MARKDOWN_CHARS = 2_000_000;

const HIT_FIELDS = ['leadId', 'version', 'classification', 'age', 'income', 'location', 'tags'] as const;
const NOT_DELETED = 'deleted ne true';

const normaliseKey = (value: string) => value.normalize('NFC').trim().toLowerCase();

/**
 * The full-text index of the Azure profile: Azure AI Search, a rebuildable projection of the blob store.
 *
 * Version guard. The service has no conditional writes, so an upsert reads the indexed versions of its leads
 * (one filtered query per 1000 leads), drops the stale documents, then uploads the rest. Two limits follow:
 * - Race: two indexers writing the same lead at the same moment can both read the old version and both
 *   upload; the later upload wins even if it carries the older version. The window is one read-then-write
 *   (tens of milliseconds), and only for concurrent events of one lead; the index is a projection, so the
 *   reconciler (`twins reindex`) repairs it.
 * - Refresh lag: the service makes writes visible to reads after about a second, so a read right after a
 *   write can miss it. This instance remembers the versions it wrote for `recentWriteMemoryMs` (bounded), so
 *   a burst of events for one lead handled by one process is still guarded; across processes the race above
 *   applies, with a window of about a second instead of milliseconds.
 */
export class AzureSearchIndex implements SearchIndex {
  private readonly client: SearchClient<TwinIndexDocument>;
  private readonly indexClient: SearchIndexClient;
  private readonly recent: RecentVersions;

  constructor(
    private readonly options: AzureSearchIndexOptions,
    readonly indexName: string = options.indexName ?? DEFAULT_SEARCH_INDEX_NAME,
  ) {
    const credential = options.apiKey
      ? new AzureKeyCredential(options.apiKey)
      : (options.credential ?? new DefaultAzureCredential());
    const clientOptions = { allowInsecureConnection: options.allowInsecureConnection ?? false };
    this.client = new SearchClient<TwinIndexDocument>(
      options.endpoint,
      this.indexName,
      credential,
      clientOptions,
    );
    this.indexClient = new SearchIndexClient(options.endpoint, credential, clientOptions);
    this.recent = new RecentVersions(options.recentWriteMemoryMs ?? 30_000);
  }

  /** Creates the index, or adds fields to it; fails if an existing field would have to change. */
  async ensureIndex(): Promise<void> {
    await this.indexClient.createOrUpdateIndex(twinIndexDefinition(this.indexName));
  }

  async upsert(documents: SearchDocument[]): Promise<{ applied: number; stale: number }> {
    const newest = new Map<string, SearchDocument>();
    for (const doc of documents) {
      parseLeadId(doc.leadId);
      const seen = newest.get(doc.leadId);
      if (!seen || doc.version > seen.version) newest.set(doc.leadId, doc);
    }
    if (newest.size === 0) return { applied: 0, stale: documents.length };
    const current = await this.indexedVersions([...newest.keys()]);
    const fresh = [...newest.values()].filter((doc) => {
      const indexed = current.get(doc.leadId);
      return indexed === undefined || doc.version > indexed;
    });
    await this.write(fresh.map(toIndexDocument));
    for (const doc of fresh) this.recent.remember(doc.leadId, doc.version);
    return { applied: fresh.length, stale: documents.length - fresh.length };
  }

  async remove(leadId: string, version: Version): Promise<ApplyResult> {
    parseLeadId(leadId);
    const indexed = (await this.indexedVersions([leadId])).get(leadId);
    if (indexed !== undefined && version <= indexed) return 'stale';
    await this.write([tombstone(leadId, version)]);
    this.recent.remember(leadId, version);
    return 'applied';
  }

  async search(query: SearchQuery): Promise<SearchResult> {
    const text = toSimpleQuery(query.q);
    const facets = [...new Set(query.facets)];
    const options: SearchOptions<TwinIndexDocument, (typeof HIT_FIELDS)[number]> = {
      filter: twinSearchFilter(query),
      queryType: 'simple',
      searchMode: 'all',
      select: [...HIT_FIELDS],
      top: query.top,
      skip: query.skip,
      includeTotalCount: true,
      // Ties are broken by key so that paging never shows a document twice or skips one.
      orderBy: text !== null ? ['search.score() desc', 'leadId asc'] : ['savedAt desc', 'leadId desc'],
      facets: facets.map((facet) => `${facet},count:${FACET_REQUEST_COUNT}`),
    };
    if (text !== null) {
      options.highlightFields = 'markdown';
      options.highlightPreTag = HIGHLIGHT_PRE_TAG;
      options.highlightPostTag = HIGHLIGHT_POST_TAG;
    }
    this.options.meter?.record('search', 'query', 'none');
    const response = await this.client.search(text ?? '*', options);
    const hits: SearchHit[] = [];
    // Iterating `results` reuses the page search() already fetched (byPage() would send the query again).
    for await (const result of response.results) {
      hits.push(toHit(result.document, result.score, result.highlights));
      if (hits.length >= query.top) break;
    }
    return { total: response.count ?? 0, hits, facets: toFacets(facets, response.facets) };
  }

  async version(leadId: string): Promise<Version | null> {
    if (!isLeadId(leadId)) return null;
    const doc = (await this.indexedStates([leadId])).get(leadId);
    return doc === undefined || doc.deleted ? null : (doc.version as Version);
  }

  async count(): Promise<number> {
    this.options.meter?.record('search', 'query', 'none');
    const response = await this.client.search('*', { filter: NOT_DELETED, top: 0, includeTotalCount: true });
    return response.count ?? 0;
  }

  async close(): Promise<void> {
    // The SDK clients hold no connections of their own to release (the shared HTTP agent does).
  }

  /** Indexed versions, tombstones included, raised to what this instance wrote recently. */
  private async indexedVersions(leadIds: string[]): Promise<Map<string, string>> {
    const versions = new Map<string, string>();
    for (const [leadId, state] of await this.indexedStates(leadIds)) versions.set(leadId, state.version);
    for (const leadId of leadIds) {
      const remembered = this.recent.get(leadId);
      const indexed = versions.get(leadId);
      if (remembered !== undefined && (indexed === undefined || remembered > indexed))
        versions.set(leadId, remembered);
    }
    return versions;
  }

  /**
   * Version and tombstone flag of each lead's document, by filtered query rather than document lookup:
   * one request for up to 1000 leads, and SDK 13's getDocument sends `$select` double-encoded, so a lookup
   * would transfer the whole markdown.
   */
  private async indexedStates(
    leadIds: string[],
  ): Promise<Map<string, { version: string; deleted: boolean }>> {
    const states = new Map<string, { version: string; deleted: boolean }>();
    for (let i = 0; i < leadIds.length; i += MAX_LEADS_PER_LOOKUP) {
      const chunk = leadIds.slice(i, i + MAX_LEADS_PER_LOOKUP);
      this.options.meter?.record('search', 'query', 'none');
      const response = await this.client.search('*', {
        filter: odataSearchIn('leadId', chunk),
        select: ['leadId', 'version', 'deleted'],
        top: chunk.length,
      });
      for await (const { document } of response.results) {
        states.set(document.leadId, { version: document.version, deleted: document.deleted === true });
      }
    }
    return states;
  }

  /** Uploads in requests of at most 1000 actions and ~15 MB; any document the service refuses fails the call. */
  private async write(documents: TwinIndexDocument[]): Promise<void> {
    for (const batch of batches(documents)) {
      const actions: IndexDocumentsAction<TwinIndexDocument>[] = batch.map((doc) => ({
        // `upload` replaces the whole document, so no field of an older version (or of a deleted lead) survives.
        __actionType: 'upload',
        ...doc,
      }));
      this.options.meter?.record('search', 'index', 'none', batch.length);
      const result = await this.client.indexDocuments(new IndexDocumentsBatch(actions));
      const failed = result.results.filter((r) => !r.succeeded);
      if (failed.length > 0) {
        const first = failed[0];
        throw new Error(
          `Azure AI Search refused ${failed.length} of ${batch.length} documents (first: status ${first.statusCode}: ${first.errorMessage ?? 'no message'})`,
        );
      }
    }
  }
}

export function createAzureSearchIndex(options: AzureSearchIndexOptions): AzureSearchIndex {
  return new AzureSearchIndex(options);
}

/** The `$filter` of a query: tombstones excluded, then every condition the query sets, joined by `and`. */
export function twinSearchFilter(query: SearchQuery): string {
  const clauses = [NOT_DELETED];
  const classes = [...new Set(query.classification ?? [])];
  if (classes.length > 0) {
    clauses.push(`(${classes.map((c) => `classification eq ${odataString(c)}`).join(' or ')})`);
  }
  if (query.minIncome !== undefined) clauses.push(`income ge ${odataNumber(query.minIncome)}`);
  if (query.maxIncome !== undefined) clauses.push(`income le ${odataNumber(query.maxIncome)}`);
  if (query.minAge !== undefined) clauses.push(`age ge ${odataNumber(query.minAge)}`);
  if (query.maxAge !== undefined) clauses.push(`age le ${odataNumber(query.maxAge)}`);
  if (query.location !== undefined)
    clauses.push(`locationKey eq ${odataString(normaliseKey(query.location))}`);
  for (const tag of new Set((query.tags ?? []).map(normaliseKey))) {
    clauses.push(`tags/any(t: t eq ${odataString(tag)})`);
  }
  return clauses.join(' and ');
}

function toIndexDocument(doc: SearchDocument): TwinIndexDocument {
  const meta = doc.metadata;
  const savedAt = Date.parse(doc.savedAt);
  return {
    leadId: doc.leadId,
    version: doc.version,
    deleted: false,
    markdown: indexableMarkdown(truncate(doc.markdown, MAX_INDEXED_MARKDOWN_CHARS)),
    classification: meta.classification,
    age: meta.age ?? null,
    income: meta.income ?? null,
    location: meta.location ?? null,
    locationKey: meta.location === undefined ? null : normaliseKey(meta.location),
    tags: [...new Set(meta.tags.map(normaliseKey))],
    // The service only takes timestamps with an offset; a parseable one is normalised to UTC.
    savedAt: Number.isNaN(savedAt) ? null : new Date(savedAt).toISOString(),
  };
}

function tombstone(leadId: string, version: Version): TwinIndexDocument {
  return {
    leadId,
    version,
    deleted: true,
    markdown: null,
    classification: null,
    age: null,
    income: null,
    location: null,
    locationKey: null,
    tags: [],
    savedAt: null,
  };
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never leave half a surrogate pair at the cut.
  const cut = /[\uD800-\uDBFF]/.test(text[max - 1]) ? max - 1 : max;
  return text.slice(0, cut);
}

function* batches(documents: TwinIndexDocument[]): Generator<TwinIndexDocument[]> {
  let batch: TwinIndexDocument[] = [];
  let bytes = 0;
  for (const doc of documents) {
    const size = Buffer.byteLength(JSON.stringify(doc)) + 32;
    if (batch.length > 0 && (batch.length >= MAX_ACTIONS_PER_BATCH || bytes + size > MAX_BATCH_BYTES)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(doc);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

type HitDocument = Pick<TwinIndexDocument, (typeof HIT_FIELDS)[number]>;

function toHit(doc: HitDocument, score: number, highlights: Record<string, string[]> | undefined): SearchHit {
  const hit: SearchHit = {
    leadId: doc.leadId,
    version: doc.version as Version,
    score,
    highlights: (highlights?.['markdown'] ?? []).map(highlightToHtml),
    classification: doc.classification as Classification,
    tags: doc.tags ?? [],
  };
  if (doc.age !== null && doc.age !== undefined) hit.age = doc.age;
  if (doc.income !== null && doc.income !== undefined) hit.income = doc.income;
  if (doc.location !== null && doc.location !== undefined) hit.location = doc.location;
  return hit;
}

type ServiceFacets = Record<string, { value?: unknown; count?: number }[]> | undefined;

function toFacets(requested: FacetField[], facets: ServiceFacets): SearchResult['facets'] {
  const out: SearchResult['facets'] = {};
  for (const facet of requested) {
    const buckets = (facets?.[facet] ?? []).map((b) => ({
      value: String(b.value ?? ''),
      count: b.count ?? 0,
    }));
    out[facet] = rank(facet === 'location' ? mergeSpellings(buckets) : buckets);
  }
  return out;
}

/**
 * The location filter is case-insensitive, so its facet counts must be too: spellings of one place are
 * summed and shown by their first spelling in ordinal order (as the embedded profile does).
 */
function mergeSpellings(buckets: FacetCount[]): FacetCount[] {
  const merged = new Map<string, FacetCount>();
  for (const bucket of buckets) {
    const key = normaliseKey(bucket.value);
    const seen = merged.get(key);
    if (!seen) merged.set(key, { ...bucket });
    else {
      seen.count += bucket.count;
      if (bucket.value < seen.value) seen.value = bucket.value;
    }
  }
  return [...merged.values()];
}

function rank(buckets: FacetCount[]): FacetCount[] {
  return buckets
    .sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0))
    .slice(0, AZURE_SEARCH_FACET_LIMIT);
}

/** Versions this instance wrote lately, so its own guard is not fooled by the service's refresh lag. */
class RecentVersions {
  private static readonly MAX_ENTRIES = 100_000;
  private readonly entries = new Map<string, { version: string; until: number }>();

  constructor(private readonly ttlMs: number) {}

  remember(leadId: string, version: string): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(leadId);
    this.entries.set(leadId, { version, until: Date.now() + this.ttlMs });
    if (this.entries.size > RecentVersions.MAX_ENTRIES) {
      // Maps iterate in insertion order: the first key is the oldest write.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  get(leadId: string): string | undefined {
    const entry = this.entries.get(leadId);
    if (!entry) return undefined;
    if (entry.until < Date.now()) {
      this.entries.delete(leadId);
      return undefined;
    }
    return entry.version;
  }
}
