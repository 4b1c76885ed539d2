export {
  AZURE_SEARCH_FACET_LIMIT,
  AzureSearchIndex,
  createAzureSearchIndex,
  MAX_ACTIONS_PER_BATCH,
  MAX_BATCH_BYTES,
  MAX_INDEXED_MARKDOWN_CHARS,
  twinSearchFilter,
} from './azure-search-index.adapter';
export type { AzureSearchIndexOptions } from './azure-search-index.adapter';
export { odataNumber, odataSearchIn, odataString } from './odata';
export { searchPhrases, searchTerms, toSimpleQuery } from './search-text';
export { DEFAULT_SEARCH_INDEX_NAME, twinIndexDefinition } from './twin-index-definition';
export type { TwinIndexDocument } from './twin-index-definition';
