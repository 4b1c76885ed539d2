import { notSupported, SearchServiceError } from './search-service-error';

export const SCALAR_TYPES = [
  'Edm.String',
  'Edm.Int32',
  'Edm.Int64',
  'Edm.Double',
  'Edm.Boolean',
  'Edm.DateTimeOffset',
] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];

/** A field as the service stores it: every attribute explicit. */
export interface FieldDefinition {
  name: string;
  type: string;
  elementType: ScalarType;
  collection: boolean;
  key: boolean;
  retrievable: boolean;
  searchable: boolean;
  filterable: boolean;
  sortable: boolean;
  facetable: boolean;
  analyzer: string | null;
}

export interface IndexDefinition {
  name: string;
  fields: FieldDefinition[];
  keyField: FieldDefinition;
  byName: Map<string, FieldDefinition>;
}

/** Analyzers this stand-in can imitate; any other name is refused rather than silently treated as standard. */
export const SUPPORTED_ANALYZERS = new Set([
  'standard.lucene',
  'standardasciifolding.lucene',
  'en.lucene',
  'en.microsoft',
  'simple',
  'whitespace',
  'stop',
  'keyword',
]);

const INDEX_NAME = /^[a-z0-9](?:[a-z0-9-]{0,126}[a-z0-9])?$/;
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,127}$/;

const bad = (message: string) => new SearchServiceError(400, 'InvalidRequestParameter', message);

export function validateIndexName(name: unknown): string {
  if (typeof name !== 'string' || !INDEX_NAME.test(name) || name.includes('--')) {
    throw bad(
      'Index name must only contain lowercase letters, digits or dashes, cannot start or end with dashes, cannot contain consecutive dashes and is limited to 128 characters.',
    );
  }
  return name;
}

/** Reads an index definition as posted (REST or SDK shape), applying the service's attribute defaults. */
export function parseIndexDefinition(body: unknown): IndexDefinition {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('The request is invalid. Details: index : The index definition must be a JSON object.');
  }
  const raw = body as Record<string, unknown>;
  const name = validateIndexName(raw['name']);
  for (const feature of ['scoringProfiles', 'suggesters', 'vectorSearch', 'semantic', 'analyzers']) {
    const value = raw[feature];
    const empty = value === undefined || value === null || (Array.isArray(value) && value.length === 0);
    if (!empty) throw notSupported(`index property '${feature}'`);
  }
  if (!Array.isArray(raw['fields']) || raw['fields'].length === 0) {
    throw bad('The request is invalid. Details: index.fields : The index must have at least one field.');
  }
  const fields = raw['fields'].map(parseField);
  const byName = new Map<string, FieldDefinition>();
  for (const field of fields) {
    if (byName.has(field.name)) {
      throw bad(
        `The request is invalid. Details: index.fields : Field '${field.name}' is defined more than once.`,
      );
    }
    byName.set(field.name, field);
  }
  const keys = fields.filter((f) => f.key);
  if (keys.length !== 1) {
    throw bad(
      'The request is invalid. Details: index.fields : The index must contain exactly one key field.',
    );
  }
  const keyField = keys[0];
  if (keyField.type !== 'Edm.String') {
    throw bad(
      `The request is invalid. Details: index.fields : The key field '${keyField.name}' must be of type Edm.String.`,
    );
  }
  if (!keyField.retrievable) {
    throw bad(
      `The request is invalid. Details: index.fields : The key field '${keyField.name}' must be retrievable.`,
    );
  }
  return { name, fields, keyField, byName };
}

function parseField(value: unknown): FieldDefinition {
  if (typeof value !== 'object' || value === null)
    throw bad('The request is invalid. Details: a field must be an object.');
  const raw = value as Record<string, unknown>;
  const name = raw['name'];
  if (typeof name !== 'string' || !FIELD_NAME.test(name)) {
    throw bad(
      `The request is invalid. Details: index.fields : Invalid field name '${String(name)}'. Field names must start with a letter and contain only letters, digits or underscores.`,
    );
  }
  const type = raw['type'];
  if (typeof type !== 'string') throw bad(`The request is invalid. Details: field '${name}' has no type.`);
  const collectionMatch = /^Collection\((.+)\)$/.exec(type);
  const elementType = (collectionMatch ? collectionMatch[1] : type) as ScalarType;
  if (!SCALAR_TYPES.includes(elementType)) {
    if (type === 'Edm.GeographyPoint' || type.includes('ComplexType') || type.includes('Edm.Single')) {
      throw notSupported(`field type '${type}'`);
    }
    throw bad(`The request is invalid. Details: field '${name}' has an unknown type '${type}'.`);
  }
  const collection = collectionMatch !== null;
  const isString = elementType === 'Edm.String';
  const flag = (attribute: string, fallback: boolean): boolean => {
    const v = raw[attribute];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean')
      throw bad(`The request is invalid. Details: '${attribute}' of field '${name}' must be a boolean.`);
    return v;
  };
  // REST defaults: every attribute on unless switched off (searchable only applies to strings).
  const hidden = raw['hidden'];
  const field: FieldDefinition = {
    name,
    type,
    elementType,
    collection,
    key: flag('key', false),
    retrievable: typeof hidden === 'boolean' ? !hidden : flag('retrievable', true),
    searchable: flag('searchable', isString),
    filterable: flag('filterable', true),
    sortable: flag('sortable', !collection),
    facetable: flag('facetable', true),
    analyzer: null,
  };
  if (field.searchable && !isString) {
    throw bad(`The request is invalid. Details: Field '${name}' of type '${type}' cannot be searchable.`);
  }
  if (field.sortable && collection) {
    throw bad(`The request is invalid. Details: Field '${name}' is a collection and cannot be sortable.`);
  }
  for (const attribute of ['searchAnalyzer', 'indexAnalyzer', 'normalizer', 'synonymMaps', 'dimensions']) {
    const v = raw[attribute];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) {
      throw notSupported(`field attribute '${attribute}'`);
    }
  }
  const analyzer = raw['analyzer'] ?? raw['analyzerName'];
  if (analyzer !== undefined && analyzer !== null) {
    if (typeof analyzer !== 'string' || !field.searchable) {
      throw bad(
        `The request is invalid. Details: An analyzer can only be set on a searchable string field ('${name}').`,
      );
    }
    if (!SUPPORTED_ANALYZERS.has(analyzer)) throw notSupported(`analyzer '${analyzer}'`);
    field.analyzer = analyzer;
  } else if (field.searchable) {
    field.analyzer = 'standard.lucene';
  }
  return field;
}

/**
 * The service lets an update add fields, but not remove one or change an existing field's type or index
 * attributes (that needs a rebuild); the same answer here, so an incompatible ensureIndex() fails in tests.
 */
export function checkCompatibleUpdate(current: IndexDefinition, next: IndexDefinition): void {
  for (const old of current.fields) {
    const updated = next.byName.get(old.name);
    if (!updated) {
      throw bad(
        `Index update not allowed because it would delete field '${old.name}'. Fields cannot be removed from an existing index.`,
      );
    }
    const changed = (
      ['type', 'key', 'searchable', 'filterable', 'sortable', 'facetable', 'analyzer'] as const
    ).filter((attribute) => old[attribute] !== updated[attribute]);
    if (changed.length > 0) {
      throw bad(
        `Existing field '${old.name}' cannot be changed (${changed.join(', ')}). Only new fields can be added to an existing index.`,
      );
    }
  }
}

/** The definition as the service returns it. */
export function serializeIndexDefinition(definition: IndexDefinition, etag: string): Record<string, unknown> {
  return {
    '@odata.etag': etag,
    name: definition.name,
    fields: definition.fields.map((f) => ({
      name: f.name,
      type: f.type,
      key: f.key,
      retrievable: f.retrievable,
      stored: true,
      searchable: f.searchable,
      filterable: f.filterable,
      sortable: f.sortable,
      facetable: f.facetable,
      analyzer: f.analyzer,
      searchAnalyzer: null,
      indexAnalyzer: null,
      normalizer: null,
      synonymMaps: [],
    })),
    scoringProfiles: [],
    defaultScoringProfile: null,
    corsOptions: null,
    suggesters: [],
    analyzers: [],
    tokenizers: [],
    tokenFilters: [],
    charFilters: [],
    normalizers: [],
  };
}
