/**
 * The source of truth: a blob store with conditional writes. Paths are built by the domain from validated
 * input only; adapters still refuse any path outside their root.
 */
export type BlobTier = 'hot' | 'cool' | 'archive';

export interface BlobProperties {
  path: string;
  etag: string;
  size: number;
  contentType: string;
  /** Small string metadata (the twin version, content hash). Never personal data. */
  metadata: Record<string, string>;
  lastModified: Date;
  tier: BlobTier;
}

export interface PutBlobOptions {
  contentType: string;
  metadata?: Record<string, string>;
  /** Write only if the current blob has this etag (412 otherwise). */
  ifMatch?: string;
  /** `*`: write only if no blob exists at the path. */
  ifNoneMatch?: '*';
}

/** One write of a putMany() group. */
export interface PutBlobItem {
  path: string;
  body: Buffer;
  options: PutBlobOptions;
}

/** What one item of a putMany() group came to: its new etag, or the error of that item alone. */
export type PutBlobOutcome = { etag: string } | Error;

export class PreconditionFailedError extends Error {
  readonly code = 'BLOB.PRECONDITION_FAILED';
  constructor(readonly path: string) {
    super(`precondition failed for ${path}`);
    this.name = 'PreconditionFailedError';
  }
}

export interface ContentStore {
  put(path: string, body: Buffer, options: PutBlobOptions): Promise<{ etag: string }>;
  /**
   * Many puts at once, each with its own conditions and outcome, in the order given: a refused or failed item
   * does not fail the others. Resolves once every item is settled; the written ones are durable then. Adapters
   * offer it when a group costs less than the same puts one by one (one group commit, parallel uploads);
   * callers fall back to put() when it is absent. Paths must be distinct within a group.
   */
  putMany?(items: readonly PutBlobItem[]): Promise<PutBlobOutcome[]>;
  get(path: string): Promise<{ body: Buffer; properties: BlobProperties } | null>;
  head(path: string): Promise<BlobProperties | null>;
  /** Returns false when nothing was there. Throws PreconditionFailedError on a stale ifMatch. */
  delete(path: string, options?: { ifMatch?: string }): Promise<boolean>;
  /** Blobs whose path starts with `prefix`, in path order. */
  list(prefix: string): AsyncIterable<BlobProperties>;
  close(): Promise<void>;
}
