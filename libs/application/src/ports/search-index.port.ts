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
  total: number;
  hits: SearchHit[];
  facets: Partial<Record<FacetField, FacetCount[]>>;
}

export interface SearchIndex {
  /** Version-guarded per document; documents for the same lead in one call: the newest wins. */
  upsert(documents: SearchDocument[]): Promise<{ applied: number; stale: number }>;
  remove(leadId: string, version: Version): Promise<ApplyResult>;
  search(query: SearchQuery): Promise<SearchResult>;
  /** The indexed version of a lead (for reconciliation and tests). */
  version(leadId: string): Promise<Version | null>;
  count(): Promise<number>;
  close(): Promise<void>;
}
