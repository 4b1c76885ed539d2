import type { SearchIndex as AzureIndexDefinition } from '@azure/search-documents';

export const DEFAULT_SEARCH_INDEX_NAME = 'digital-twins';

/**
 * One document per lead. A deleted lead keeps a tombstone document (`deleted: true`, its deletion version,
 * every content and personal field null) so that an older upsert arriving late is recognised as stale; every
 * query filters tombstones out.
 */
export interface TwinIndexDocument {
  leadId: string;
  version: string;
  deleted: boolean;
  markdown: string | null;
  classification: string | null;
  age: number | null;
  income: number | null;
  /** As posted, for display and facets. */
  location: string | null;
  /** Trimmed, NFC, lowercase: what the case-insensitive exact location filter compares. */
  locationKey: string | null;
  tags: string[];
  savedAt: string | null;
}

/**
 * The index schema. Attributes are set explicitly (the REST defaults switch almost everything on, which costs
 * storage and lets fields be used in ways the adapter never intends). `markdown` is searchable with the
 * English Lucene analyzer (stemming, stop words); nothing else is searchable, so free text never matches
 * metadata. Changing a field's attributes later needs a new index (the service refuses the update).
 */
export function twinIndexDefinition(name: string): AzureIndexDefinition {
  return {
    name,
    fields: [
      { name: 'leadId', type: 'Edm.String', key: true, filterable: true, sortable: true },
      { name: 'version', type: 'Edm.String', filterable: true },
      { name: 'deleted', type: 'Edm.Boolean', filterable: true },
      { name: 'markdown', type: 'Edm.String', searchable: true, analyzerName: 'en.lucene' },
      { name: 'classification', type: 'Edm.String', filterable: true, facetable: true },
      { name: 'age', type: 'Edm.Int32', filterable: true, sortable: true },
      { name: 'income', type: 'Edm.Double', filterable: true, sortable: true },
      { name: 'location', type: 'Edm.String', filterable: true, facetable: true },
      { name: 'locationKey', type: 'Edm.String', filterable: true },
      { name: 'tags', type: 'Collection(Edm.String)', filterable: true, facetable: true },
      { name: 'savedAt', type: 'Edm.DateTimeOffset', filterable: true, sortable: true },
    ],
  };
}
