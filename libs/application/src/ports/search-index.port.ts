import { Classification, TwinMetadata, Version } from '@twinstore/domain';
import { ApplyResult } from './catalog.port';

export interface SearchDocument {
  leadId: string;
  version: Version;
  markdown: string;
  metadata: TwinMetadata;
  savedAt: string;
}

export const FACET_FIELDS = ['classification', 'location', 'tags'] as const;
export type FacetField = (typeof FACET_FIELDS)[number];

export interface SearchQuery {
  /** Free text; every term must match (AND). Absent or empty: filter-only, newest first. */
  q?: string;
  classification?: Classification[];
  minIncome?: number;
  maxIncome?: number;
  minAge?: number;
  maxAge?: number;
  /** Exact location (case-insensitive). */
  location?: string;
  /** Every tag must be present. */
  tags?: string[];
  top: number;
  skip: number;
  facets: FacetField[];
}

export interface SearchHit {
  leadId: string;
  version: Version;
  /** Relevance, higher is better; the same for every hit of an unscored order (listings, newest-first text). */
  score: number;
  /** Fragments of the markdown around matches, matches wrapped in <em></em> (markdown escaped). */
  highlights: string[];
  classification: Classification;
  age?: number;
  income?: number;
  location?: string;
  tags: string[];
}

export interface FacetCount {
  value: string;
  count: number;
}

export interface SearchResult {
  /** Matches in all; an estimate when `totalIsEstimate` is true. */
  total: number;
  /**
   * True when the match set was too large to count at query time: `total` and the facet counts are then
   * extrapolated from a sample of the matches (the embedded index does this above a few thousand matches),
   * and the ranked page comes from that sample. Absent or false: exact.
   */
  totalIsEstimate?: boolean;
  hits: SearchHit[];
  facets: Partial<Record<FacetField, FacetCount[]>>;
}

/**
 * The markdown of the given hits (null where it cannot be had), for an index that keeps no copy of the text:
 * it makes the highlights of the returned page from it.
 */
export type HitTextLoader = (
  hits: readonly { leadId: string; version: Version }[],
) => Promise<(string | null)[]>;

export interface SearchOptions {
  /** Without it, an index that keeps no copy of the text returns hits without highlights. */
  hitText?: HitTextLoader;
}

export interface SearchIndex {
  /** Version-guarded per document; documents for the same lead in one call: the newest wins. */
  upsert(documents: SearchDocument[]): Promise<{ applied: number; stale: number }>;
  remove(leadId: string, version: Version): Promise<ApplyResult>;
  search(query: SearchQuery, options?: SearchOptions): Promise<SearchResult>;
  /** The indexed version of a lead (for reconciliation and tests). */
  version(leadId: string): Promise<Version | null>;
  count(): Promise<number>;
  close(): Promise<void>;
}
