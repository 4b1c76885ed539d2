import {
  BlobDownloadResponseParsed,
  BlobGetPropertiesResponse,
  BlobItem,
  BlobServiceClient,
  ContainerClient,
  StoragePipelineOptions,
} from '@azure/storage-blob';
import { DefaultAzureCredential, TokenCredential } from '@azure/identity';
import {
  assertBlobPath,
  assertBlobPrefix,
  BillingMeter,
  BlobProperties,
  BlobTier,
  BlobTiering,
  ContentStore,
  CopyState,
  NO_BILLING_METER,
  RehydratePriority,
  PreconditionFailedError,
  PutBlobItem,
  PutBlobOptions,
  PutBlobOutcome,
} from '@twinstore/application';
import { assertBlobMetadata } from './blob-path';

export interface AzureBlobContentStoreOptions {
  /** Account key or SAS connection string (Azurite's included). Takes precedence over accountUrl. */
  connectionString?: string;
  /** `https://{account}.blob.core.windows.net`, used with `credential` (DefaultAzureCredential when absent). */
  accountUrl?: string;
  credential?: TokenCredential;
  /** Default `twins`. */
  container?: string;
  /** Blobs per list page (default 1000, the service's maximum). */
  listPageSize?: number;
  /** Passed to the SDK (retry policy, user agent). */
  pipeline?: StoragePipelineOptions;
  /** Counts billable operations (twins_billable_operations_total). */
  meter?: BillingMeter;
}

/**
 * Thrown by get() for a blob in the Archive tier: its bytes cannot be read until it is rehydrated (hours on
 * Azure), so "not found" would be a lie and a generic error would hide the reason. head() and list() still
 * work on archived blobs and report `tier: 'archive'`.
 */
export class BlobArchivedError extends Error {
  readonly code = 'BLOB.ARCHIVED';
  constructor(readonly path: string) {
    super(`blob ${path} is archived; rehydrate it before reading`);
    this.name = 'BlobArchivedError';
  }
}

export interface DeleteManyResult {
  deleted: string[];
  /** Paths where nothing was there (already deleted). */
  missing: string[];
}

const DEFAULT_CONTAINER = 'twins';
/** The Blob Batch API's limit of sub-requests per batch. */
export const MAX_BATCH_DELETE = 256;
const BATCH_CONCURRENCY = 4;
/**
 * Uploads of one putMany() in flight at once. Blob Storage has no multi-blob write: a group is parallel Put
 * Blob requests, bounded so one batch does not take every socket of the agent.
 */
export const PUT_MANY_CONCURRENCY = 16;
const READ_ATTEMPTS = 5;
const TIER_TO_AZURE: Record<BlobTier, 'Hot' | 'Cool' | 'Archive'> = {
  hot: 'Hot',
  cool: 'Cool',
  archive: 'Archive',
};

/**
 * The source of truth on Azure Blob Storage. Blob names are the port's paths exactly, so the container shows
 * the seed layout (`digital-twins/2026/11/28/{leadId}.md`, `digital-twins/metadata/{leadId}.json`,
 * `persona-images/{leadId}/...`). ETags are the service's (quoted, opaque); conditional writes map to
 * If-Match / If-None-Match and every refusal surfaces as PreconditionFailedError.
 *
 * get() costs two read operations (download, then properties) because Get Blob does not return the access
 * tier; the second request is conditional on the first one's ETag, so body and properties always belong to
 * the same version.
 */
export class AzureBlobContentStore implements ContentStore, BlobTiering {
  private readonly listPageSize: number;
  private readonly meter: BillingMeter;

  constructor(
    readonly container: ContainerClient,
    options: { listPageSize?: number; meter?: BillingMeter } = {},
  ) {
    this.listPageSize = options.listPageSize ?? 1000;
    this.meter = options.meter ?? NO_BILLING_METER;
    if (!Number.isInteger(this.listPageSize) || this.listPageSize < 1 || this.listPageSize > 5000) {
      throw new Error('listPageSize must be an integer from 1 to 5000');
    }
  }

  /** Creates the container when it is missing (private access). Idempotent. */
  async ensureContainer(): Promise<void> {
    await this.container.createIfNotExists();
  }

  async put(path: string, body: Buffer, options: PutBlobOptions): Promise<{ etag: string }> {
    assertBlobPath(path);
    if (typeof options?.contentType !== 'string' || options.contentType.length === 0) {
      throw new Error('contentType is required');
    }
    assertBlobMetadata(options.metadata);
    if (options.ifMatch !== undefined && options.ifNoneMatch !== undefined) {
      throw new Error('ifMatch and ifNoneMatch cannot be combined');
    }
    this.meter.record('blob', 'write', 'hot');
    try {
      // uploadData sends bodies up to 256 MiB as one Put Blob request; larger ones are staged as blocks and
      // the conditions then apply to the final Put Block List, so a refused write never becomes visible.
      const response = await this.container.getBlockBlobClient(path).uploadData(body, {
        blobHTTPHeaders: { blobContentType: options.contentType },
        metadata: options.metadata ?? {},
        conditions:
          options.ifMatch !== undefined
            ? { ifMatch: options.ifMatch }
            : options.ifNoneMatch === '*'
              ? { ifNoneMatch: '*' }
              : undefined,
      });
      return { etag: requireEtag(response.etag, path) };
    } catch (e) {
      // 412 ConditionNotMet: stale If-Match (or If-Match on a missing blob); 409 BlobAlreadyExists: If-None-Match.
      if (statusOf(e) === 412 || (statusOf(e) === 409 && codeOf(e) === 'BlobAlreadyExists')) {
        throw new PreconditionFailedError(path);
      }
      throw e;
    }
  }

  /** Every item its own Put Blob (conditions included), PUT_MANY_CONCURRENCY at a time; outcomes in order. */
  async putMany(items: readonly PutBlobItem[]): Promise<PutBlobOutcome[]> {
    const outcomes: PutBlobOutcome[] = new Array(items.length);
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        const { path, body, options } = items[i];
        outcomes[i] = await this.put(path, body, options).catch((e: unknown) =>
          e instanceof Error ? e : new Error(String(e)),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUT_MANY_CONCURRENCY, items.length) }, worker));
    return outcomes;
  }

  async get(path: string): Promise<{ body: Buffer; properties: BlobProperties } | null> {
    assertBlobPath(path);
    const blob = this.container.getBlockBlobClient(path);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      let download: BlobDownloadResponseParsed;
      let body: Buffer;
      try {
        download = await blob.download();
        body = await readAll(download.readableStreamBody);
      } catch (e) {
        if (statusOf(e) === 404) return null;
        if (statusOf(e) === 409 && codeOf(e) === 'BlobArchived') throw new BlobArchivedError(path);
        throw e;
      }
      const etag = requireEtag(download.etag, path);
      try {
        const properties = await blob.getProperties({ conditions: { ifMatch: etag } });
        this.meter.record('blob', 'read', toTier(properties.accessTier));
        this.meter.record('blob', 'other', toTier(properties.accessTier));
        return { body, properties: fromProperties(path, properties) };
      } catch (e) {
        // Replaced or deleted between the two requests: read again, so body and properties match.
        if (statusOf(e) !== 412 && statusOf(e) !== 404) throw e;
      }
    }
    throw new Error(`blob ${path} kept changing while being read`);
  }

  async head(path: string): Promise<BlobProperties | null> {
    assertBlobPath(path);
    this.meter.record('blob', 'other', 'hot');
    try {
      return fromProperties(path, await this.container.getBlockBlobClient(path).getProperties());
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  async delete(path: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    assertBlobPath(path);
    this.meter.record('blob', 'delete', 'hot');
    try {
      await this.container.getBlockBlobClient(path).delete({
        deleteSnapshots: 'include',
        conditions: options.ifMatch !== undefined ? { ifMatch: options.ifMatch } : undefined,
      });
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      if (statusOf(e) === 412) {
        // The service may answer a conditional delete of a missing blob with 412 rather than 404.
        if ((await this.head(path)) === null) return false;
        throw new PreconditionFailedError(path);
      }
      throw e;
    }
  }

  async *list(prefix: string): AsyncIterable<BlobProperties> {
    assertBlobPrefix(prefix);
    // The service lists in name order (UTF-8 binary), which for our ASCII paths is the port's path order.
    const pages = this.container
      .listBlobsFlat({ prefix: prefix === '' ? undefined : prefix, includeMetadata: true })
      .byPage({ maxPageSize: this.listPageSize });
    for await (const page of pages) {
      this.meter.record('blob', 'list', 'hot');
      for (const item of page.segment.blobItems) yield fromListItem(item);
    }
  }

  /**
   * Moves a blob to another access tier; content, ETag and lastModified stay. False if there is no blob.
   * Leaving Archive starts a rehydration (Standard priority) that takes hours on Azure; until it completes,
   * head() keeps reporting `archive` and get() keeps throwing BlobArchivedError.
   */
  async setTier(path: string, tier: BlobTier): Promise<boolean> {
    assertBlobPath(path);
    const azureTier = TIER_TO_AZURE[tier];
    if (!azureTier) throw new Error('blob tier must be hot, cool or archive');
    this.meter.record('blob', 'set_tier', tier);
    try {
      await this.container.getBlockBlobClient(path).setAccessTier(azureTier);
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw e;
    }
  }

  /**
   * Copy-based rehydration (what Azure recommends over setting the tier in place): Copy Blob from `source`
   * (Archive allowed) to a new Hot blob `target` with the given rehydrate priority. Same-account copy, so the
   * source is authorised by the destination request (shared key; with Entra ID the identity needs read on
   * the container). The copy of an archived source stays pending until the rehydration ends (up to 15 h
   * standard, under 1 h high); Azurite completes it at once. Idempotent: an existing target is not copied again.
   */
  async startRehydration(source: string, target: string, priority: RehydratePriority): Promise<CopyState> {
    assertBlobPath(source);
    assertBlobPath(target);
    const existing = await this.rehydrationState(target);
    if (existing !== 'missing') return existing;
    this.meter.record('blob', priority === 'high' ? 'rehydrate_high' : 'rehydrate_standard', 'archive');
    try {
      await this.container
        .getBlockBlobClient(target)
        .beginCopyFromURL(this.container.getBlockBlobClient(source).url, {
          tier: 'Hot',
          rehydratePriority: priority === 'high' ? 'High' : 'Standard',
          conditions: { ifNoneMatch: '*' },
        });
    } catch (e) {
      if (statusOf(e) === 404) return 'missing';
      // Another process started the same copy first.
      if (statusOf(e) !== 409 && statusOf(e) !== 412) throw e;
    }
    return this.rehydrationState(target);
  }

  /** The copy's state from the target's properties (copy status and archive status). */
  async rehydrationState(target: string): Promise<CopyState> {
    assertBlobPath(target);
    let p: BlobGetPropertiesResponse;
    this.meter.record('blob', 'other', 'hot');
    try {
      p = await this.container.getBlockBlobClient(target).getProperties();
    } catch (e) {
      if (statusOf(e) === 404) return 'missing';
      throw e;
    }
    if (p.copyStatus === 'failed' || p.copyStatus === 'aborted') return 'failed';
    if (p.copyStatus === 'pending' || (p.archiveStatus ?? '').startsWith('rehydrate-pending'))
      return 'pending';
    if (p.accessTier?.toLowerCase() === 'archive') return 'pending';
    return 'completed';
  }

  /**
   * Deletes many blobs (snapshots included) with Blob Batch requests of up to 256 deletions each: one
   * request instead of 256, which is what makes erasing a lead's history and images cheap. Unconditional;
   * a path with nothing there is reported as missing, any other failure throws after the batches ran.
   */
  async deleteMany(paths: readonly string[]): Promise<DeleteManyResult> {
    paths.forEach((p) => assertBlobPath(p));
    const unique = [...new Set(paths)];
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += MAX_BATCH_DELETE)
      chunks.push(unique.slice(i, i + MAX_BATCH_DELETE));
    const result: DeleteManyResult = { deleted: [], missing: [] };
    const failures: string[] = [];
    const batch = this.container.getBlobBatchClient();
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++];
        const clients = chunk.map((p) => this.container.getBlockBlobClient(p));
        const pathByUrl = new Map(clients.map((c, i) => [c.url, chunk[i]]));
        this.meter.record('blob', 'delete', 'hot', chunk.length);
        const response = await batch.deleteBlobs(clients, { deleteSnapshots: 'include' });
        for (const sub of response.subResponses) {
          const path = pathByUrl.get(sub._request.url) ?? '?';
          if (sub.status >= 200 && sub.status < 300) result.deleted.push(path);
          else if (sub.status === 404) result.missing.push(path);
          else failures.push(`${path}: ${sub.status} ${sub.errorCode ?? ''}`.trim());
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, chunks.length) }, worker));
    if (failures.length > 0) {
      throw new Error(
        `batch delete failed for ${failures.length} blob(s): ${failures.slice(0, 5).join('; ')}`,
      );
    }
    return result;
  }

  async close(): Promise<void> {
    // The SDK holds no connection of its own beyond the shared keep-alive agent.
  }
}

/** The store on the account named by the options. Call ensureContainer() once at deployment or startup. */
export function createAzureBlobContentStore(options: AzureBlobContentStoreOptions): AzureBlobContentStore {
  const containerName = options.container ?? DEFAULT_CONTAINER;
  let service: BlobServiceClient;
  if (options.connectionString) {
    service = BlobServiceClient.fromConnectionString(options.connectionString, options.pipeline);
  } else if (options.accountUrl) {
    service = new BlobServiceClient(
      options.accountUrl,
      options.credential ?? new DefaultAzureCredential(),
      options.pipeline,
    );
  } else {
    throw new Error('createAzureBlobContentStore needs a connectionString or an accountUrl');
  }
  return new AzureBlobContentStore(service.getContainerClient(containerName), {
    listPageSize: options.listPageSize,
    meter: options.meter,
  });
}

function fromProperties(path: string, p: BlobGetPropertiesResponse): BlobProperties {
  return {
    path,
    etag: requireEtag(p.etag, path),
    size: p.contentLength ?? 0,
    contentType: p.contentType ?? 'application/octet-stream',
    metadata: { ...(p.metadata ?? {}) },
    lastModified: p.lastModified ?? new Date(0),
    tier: toTier(p.accessTier),
  };
}

function fromListItem(item: BlobItem): BlobProperties {
  const p = item.properties;
  return {
    path: item.name,
    etag: requireEtag(p.etag, item.name),
    size: p.contentLength ?? 0,
    contentType: p.contentType ?? 'application/octet-stream',
    metadata: { ...(item.metadata ?? {}) },
    lastModified: p.lastModified,
    tier: toTier(p.accessTier),
  };
}

/**
 * Azure reports no tier for blobs that inherit the account default (Hot for our accounts). Cold, the online
 * tier between Cool and Archive, is reported as `cool`: the port knows only the tiers this system sets.
 */
function toTier(accessTier: string | undefined): BlobTier {
  switch (accessTier?.toLowerCase()) {
    case 'archive':
      return 'archive';
    case 'cool':
    case 'cold':
      return 'cool';
    default:
      return 'hot';
  }
}

/**
 * Headers carry the ETag quoted (`"0x8D..."`), the List Blobs XML carries it bare (`0x8D...`): quote it, so
 * one version of a blob has one ETag whichever operation reported it, and If-Match accepts it back.
 */
function requireEtag(etag: string | undefined, path: string): string {
  if (!etag) throw new Error(`the service returned no ETag for ${path}`);
  return etag.startsWith('"') || etag.startsWith('W/') ? etag : `"${etag}"`;
}

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as { statusCode?: number }).statusCode : undefined;
}

function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, details } = e as { code?: string; details?: { errorCode?: string } };
  return details?.errorCode ?? code;
}
