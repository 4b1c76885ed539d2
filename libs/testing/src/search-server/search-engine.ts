import { randomBytes } from 'node:crypto';
import {
  checkCompatibleUpdate,
  FieldDefinition,
  IndexDefinition,
  serializeIndexDefinition,
} from './index-schema';
import { evaluateFilter, FilterNode, parseFilter } from './odata-filter';
import { invalidParameter, notSupported, SearchServiceError } from './search-service-error';
import { parseSimpleQuery, TextQuery } from './simple-query';
import { analyze, AnalyzedToken, analyzeTerms } from './text-analysis';

/** Service limits the engine enforces, so code that works here does not trip them in Azure. */
export const SEARCH_SERVICE_LIMITS = {
  maxActionsPerBatch: 1000,
  maxTop: 1000,
  defaultTop: 50,
  maxSkip: 100_000,
  maxOrderByClauses: 32,
  maxKeyLength: 1024,
  defaultFacetCount: 10,
  maxHighlightFragments: 5,
} as const;

const BM25_K1 = 1.2;
const BM25_B = 0.75;
const FRAGMENT_BEFORE = 60;
const FRAGMENT_LENGTH = 200;
const KEY_PATTERN = /^[A-Za-z0-9=-][A-Za-z0-9_=-]*$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})$/;

type Values = Record<string, unknown>;

interface StoredDocument {
  id: number;
  values: Values;
}

export interface IndexingResult {
  key: string;
  status: boolean;
  errorMessage: string | null;
  statusCode: number;
}

/** Scores of matching documents by internal id; `null` when the query has no clause left after analysis. */
type Scores = Map<number, number>;

const SEARCH_BODY_KEYS = new Set([
  'count',
  'facets',
  'filter',
  'highlight',
  'highlightPostTag',
  'highlightPreTag',
  'minimumCoverage',
  'orderby',
  'queryType',
  'search',
  'searchFields',
  'searchMode',
  'select',
  'skip',
  'top',
  'sessionId',
  'scoringStatistics',
]);
const UNSUPPORTED_SEARCH_KEYS = new Set([
  'scoringProfile',
  'scoringParameters',
  'semanticConfiguration',
  'semanticErrorHandling',
  'semanticMaxWaitInMilliseconds',
  'semanticQuery',
  'answers',
  'captions',
  'vectorQueries',
  'vectorFilterMode',
  'debug',
  'hybridSearch',
  'queryLanguage',
  'speller',
  'semanticFields',
]);

const badRequest = (message: string) =>
  new SearchServiceError(400, 'InvalidRequestParameter', `The request is invalid. Details: ${message}`);

interface PostingList {
  ids: number[];
  frequencies: number[];
  /** Entries of documents since removed; the list is compacted when they outnumber the live ones. */
  dead: number;
}

/**
 * Per searchable field: an inverted index of term frequencies, and field lengths for BM25. Positions are not
 * kept (one array per document and term made the garbage collector the bottleneck); phrases are verified by
 * re-analysing the few documents that contain all their terms. Internal ids are never reused, so an entry
 * is live exactly when its id still has a length.
 */
class FieldIndex {
  private readonly postings = new Map<string, PostingList>();
  private readonly lengths = new Map<number, number>();
  private readonly uniqueTerms = new Map<number, string[]>();
  private totalLength = 0;

  constructor(
    readonly field: FieldDefinition,
    private readonly textOf: (id: number) => unknown,
  ) {}

  get analyzer(): string {
    return this.field.analyzer ?? 'standard.lucene';
  }

  add(id: number, value: unknown): void {
    const frequencies = new Map<string, number>();
    let length = 0;
    for (const text of fieldTexts(this.field, value)) {
      for (const term of analyzeTerms(text, this.analyzer)) {
        frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
        length++;
      }
    }
    if (length === 0) return;
    for (const [term, frequency] of frequencies) {
      let list = this.postings.get(term);
      if (!list) this.postings.set(term, (list = { ids: [], frequencies: [], dead: 0 }));
      list.ids.push(id);
      list.frequencies.push(frequency);
    }
    this.uniqueTerms.set(id, [...frequencies.keys()]);
    this.lengths.set(id, length);
    this.totalLength += length;
  }

  remove(id: number): void {
    const length = this.lengths.get(id);
    if (length === undefined) return;
    this.lengths.delete(id);
    this.totalLength -= length;
    for (const term of this.uniqueTerms.get(id) ?? []) {
      const list = this.postings.get(term);
      if (!list) continue;
      list.dead++;
      if (list.dead * 2 > list.ids.length) this.compact(term, list);
    }
    this.uniqueTerms.delete(id);
  }

  private compact(term: string, list: PostingList): void {
    const ids: number[] = [];
    const frequencies: number[] = [];
    for (let i = 0; i < list.ids.length; i++) {
      if (this.lengths.has(list.ids[i])) {
        ids.push(list.ids[i]);
        frequencies.push(list.frequencies[i]);
      }
    }
    if (ids.length === 0) this.postings.delete(term);
    else this.postings.set(term, { ids, frequencies, dead: 0 });
  }

  /** Live documents containing the term, with its frequency in each. */
  private live(term: string): Map<number, number> {
    const out = new Map<number, number>();
    const list = this.postings.get(term);
    if (!list) return out;
    for (let i = 0; i < list.ids.length; i++) {
      if (this.lengths.has(list.ids[i])) out.set(list.ids[i], list.frequencies[i]);
    }
    return out;
  }

  /**
   * BM25 of one term, or of a phrase (its frequency being the number of places the phrase occurs). `offsets`
   * are the phrase terms' positions relative to the first; the gaps of removed stop words are kept, as Lucene
   * keeps them ("cover for the family" finds "cover, for-the family" but not "cover family").
   */
  score(terms: string[], offsets: number[] = terms.map((_, i) => i)): Scores {
    const scores: Scores = new Map();
    const docCount = this.lengths.size;
    if (docCount === 0 || terms.length === 0) return scores;
    const avgLength = this.totalLength / docCount;
    const lists = terms.map((t) => this.live(t));
    if (lists.some((l) => l.size === 0)) return scores;
    const idf = lists.reduce(
      (sum, docs) => sum + Math.log(1 + (docCount - docs.size + 0.5) / (docs.size + 0.5)),
      0,
    );
    const [first, ...rest] = lists;
    for (const [id, termFrequency] of first) {
      let frequency = termFrequency;
      if (rest.length > 0) {
        if (!rest.every((docs) => docs.has(id))) continue;
        frequency = this.phraseFrequency(id, terms, offsets);
      }
      if (frequency === 0) continue;
      const length = this.lengths.get(id) ?? 0;
      const tf =
        (frequency * (BM25_K1 + 1)) / (frequency + BM25_K1 * (1 - BM25_B + (BM25_B * length) / avgLength));
      scores.set(id, idf * tf);
    }
    return scores;
  }

  private phraseFrequency(id: number, terms: string[], offsets: number[]): number {
    let frequency = 0;
    for (const text of fieldTexts(this.field, this.textOf(id))) {
      const tokens = analyze(text, this.analyzer);
      const at = new Map<number, string>(tokens.map((t) => [t.position, t.term]));
      for (const token of tokens) {
        if (token.term === terms[0] && terms.every((term, i) => at.get(token.position + offsets[i]) === term))
          frequency++;
      }
    }
    return frequency;
  }

  /** Prefix queries are constant-score in the service. */
  prefix(prefix: string): Scores {
    const scores: Scores = new Map();
    for (const [term, list] of this.postings) {
      if (!term.startsWith(prefix)) continue;
      for (const id of list.ids) if (this.lengths.has(id)) scores.set(id, 1);
    }
    return scores;
  }
}

function fieldTexts(field: FieldDefinition, value: unknown): string[] {
  if (value === null || value === undefined) return [];
  return field.collection ? (value as string[]) : [value as string];
}

/** Terms a highlighter should mark: exact terms and prefixes, from the query's non-negated clauses. */
interface HighlightTerms {
  exact: Set<string>;
  prefixes: string[];
}

/** One index of the test server: its definition and documents, all in memory. */
export class InMemorySearchIndex {
  private definitionValue: IndexDefinition;
  private etagValue = newEtag();
  private readonly documents = new Map<string, StoredDocument>();
  private readonly byId = new Map<number, StoredDocument>();
  private fieldIndexes = new Map<string, FieldIndex>();
  private nextId = 1;

  constructor(definition: IndexDefinition) {
    this.definitionValue = definition;
    for (const field of definition.fields) {
      if (field.searchable) this.fieldIndexes.set(field.name, this.newFieldIndex(field));
    }
  }

  private newFieldIndex(field: FieldDefinition): FieldIndex {
    return new FieldIndex(field, (id) => this.byId.get(id)?.values[field.name] ?? null);
  }

  get definition(): IndexDefinition {
    return this.definitionValue;
  }

  get etag(): string {
    return this.etagValue;
  }

  serialize(): Record<string, unknown> {
    return serializeIndexDefinition(this.definitionValue, this.etagValue);
  }

  /** Applies a compatible definition change: new fields are added, and are null in existing documents. */
  update(next: IndexDefinition): void {
    checkCompatibleUpdate(this.definitionValue, next);
    for (const field of next.fields) {
      if (this.definitionValue.byName.has(field.name)) continue;
      for (const doc of this.documents.values()) doc.values[field.name] = null;
      if (field.searchable) this.fieldIndexes.set(field.name, this.newFieldIndex(field));
    }
    this.definitionValue = next;
    this.etagValue = newEtag();
  }

  count(): number {
    return this.documents.size;
  }

  storageSize(): number {
    let bytes = 0;
    for (const doc of this.documents.values()) bytes += Buffer.byteLength(JSON.stringify(doc.values));
    return bytes;
  }

  lookup(key: string, select: string | undefined): Values | null {
    const doc = this.documents.get(key);
    if (!doc) return null;
    return this.project(doc.values, this.selectedFields(select, '$select'));
  }

  /** `POST /docs/search.index`: every action applied in order, a result per action. */
  indexBatch(body: unknown): { status: 200 | 207; value: IndexingResult[] } {
    if (typeof body !== 'object' || body === null || !Array.isArray((body as Values)['value'])) {
      throw badRequest("The request body must be an object with a 'value' array of index actions.");
    }
    const actions = (body as { value: unknown[] }).value;
    if (actions.length > SEARCH_SERVICE_LIMITS.maxActionsPerBatch) {
      throw new SearchServiceError(
        413,
        'RequestEntityTooLarge',
        `The request is too large: a batch can hold at most ${SEARCH_SERVICE_LIMITS.maxActionsPerBatch} actions.`,
      );
    }
    // The whole batch is validated first: a malformed document fails the request, as an OData payload does.
    const prepared = actions.map((action, i) => this.prepareAction(action, i));
    const results = prepared.map((p) => this.applyAction(p));
    return { status: results.every((r) => r.status) ? 200 : 207, value: results };
  }

  private prepareAction(raw: unknown, position: number): { action: string; key: string; values: Values } {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw badRequest(`actions : ${position}: an index action must be a JSON object.`);
    }
    const { '@search.action': actionValue, ...rest } = raw as Values;
    const action = actionValue ?? 'upload';
    if (action !== 'upload' && action !== 'merge' && action !== 'mergeOrUpload' && action !== 'delete') {
      throw badRequest(`actions : ${position}: '${String(action)}' is not a valid @search.action.`);
    }
    const keyName = this.definitionValue.keyField.name;
    const key = rest[keyName];
    if (typeof key !== 'string' || key.length === 0) {
      throw badRequest(`actions : ${position}: Document key cannot be missing or empty.`);
    }
    const values: Values = {};
    for (const [name, value] of Object.entries(rest)) {
      if (name.startsWith('@')) continue;
      const field = this.definitionValue.byName.get(name);
      if (!field) {
        throw badRequest(
          `actions : ${position}: The property '${name}' does not exist on type 'search.documentFields'. Make sure to only use property names that are defined by the type.`,
        );
      }
      if (action !== 'delete') values[name] = normaliseValue(field, value, position);
    }
    return { action, key, values };
  }

  private applyAction({
    action,
    key,
    values,
  }: {
    action: string;
    key: string;
    values: Values;
  }): IndexingResult {
    if (key.length > SEARCH_SERVICE_LIMITS.maxKeyLength || !KEY_PATTERN.test(key)) {
      return {
        key,
        status: false,
        errorMessage: `Invalid document key: '${key}'. Keys can only contain letters, digits, underscore (_), dash (-), or equal sign (=).`,
        statusCode: 400,
      };
    }
    const existing = this.documents.get(key);
    if (action === 'delete') {
      if (existing) this.removeDocument(key, existing);
      return { key, status: true, errorMessage: null, statusCode: 200 };
    }
    if (action === 'merge' && !existing) {
      return { key, status: false, errorMessage: 'Document not found.', statusCode: 404 };
    }
    const merged: Values = {};
    for (const field of this.definitionValue.fields) {
      const base = action === 'upload' || !existing ? null : (existing.values[field.name] ?? null);
      merged[field.name] = field.name in values ? values[field.name] : base;
    }
    merged[this.definitionValue.keyField.name] = key;
    if (existing) this.removeDocument(key, existing);
    // A fresh internal id per write: stale postings of the previous version then die with the old id.
    const doc: StoredDocument = { id: this.nextId++, values: merged };
    this.documents.set(key, doc);
    this.byId.set(doc.id, doc);
    for (const [name, index] of this.fieldIndexes) index.add(doc.id, merged[name] ?? null);
    return { key, status: true, errorMessage: null, statusCode: existing ? 200 : 201 };
  }

  private removeDocument(key: string, doc: StoredDocument): void {
    for (const index of this.fieldIndexes.values()) index.remove(doc.id);
    this.documents.delete(key);
    this.byId.delete(doc.id);
  }

  /** `POST /docs/search.post.search`. */
  search(body: unknown, nextLink?: string): Values {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw badRequest('The search request must be a JSON object.');
    }
    const request = body as Values;
    for (const name of Object.keys(request)) {
      if (request[name] === undefined || request[name] === null) continue;
      if (UNSUPPORTED_SEARCH_KEYS.has(name)) throw notSupported(`search parameter '${name}'`);
      if (!SEARCH_BODY_KEYS.has(name)) {
        throw badRequest(
          `The parameter '${name}' in the request payload is not a valid parameter for the operation 'search'.`,
        );
      }
    }
    const text = optionalString(request, 'search') ?? '*';
    const queryType = optionalString(request, 'queryType') ?? 'simple';
    if (queryType !== 'simple') {
      if (queryType === 'full' || queryType === 'semantic') throw notSupported(`queryType '${queryType}'`);
      throw invalidParameter('queryType', `'${queryType}' is not a valid query type.`);
    }
    const mode = optionalString(request, 'searchMode') ?? 'any';
    if (mode !== 'any' && mode !== 'all')
      throw invalidParameter('searchMode', `'${mode}' is not a valid search mode.`);
    const top = optionalInteger(request, 'top');
    const skip = optionalInteger(request, 'skip') ?? 0;
    if (top !== undefined && top < 0) throw invalidParameter('$top', 'top must be zero or more.');
    if (skip < 0 || skip > SEARCH_SERVICE_LIMITS.maxSkip) {
      throw invalidParameter('$skip', `skip must be between 0 and ${SEARCH_SERVICE_LIMITS.maxSkip}.`);
    }
    const searchFields = this.searchFields(optionalString(request, 'searchFields'));
    const select = this.selectedFields(optionalString(request, 'select'), '$select');
    const orderBy = this.orderBy(optionalString(request, 'orderby'));
    const facets = this.facetSpecs(request['facets']);
    const highlightFields = this.highlightFields(optionalString(request, 'highlight'));
    const preTag = optionalString(request, 'highlightPreTag') ?? '<em>';
    const postTag = optionalString(request, 'highlightPostTag') ?? '</em>';
    const filterText = optionalString(request, 'filter');
    const filter: FilterNode | null =
      filterText === undefined || filterText.trim() === ''
        ? null
        : parseFilter(filterText, this.definitionValue);

    let query: TextQuery;
    try {
      query = parseSimpleQuery(text, mode);
    } catch {
      throw invalidParameter('search', 'The search text is nested too deeply.');
    }
    const matches: Match[] = [];
    const consider = (doc: StoredDocument | undefined, score: number) => {
      if (doc && (filter === null || evaluateFilter(filter, doc.values))) {
        matches.push({ doc, score, keys: sortKeys(orderBy, doc, score) });
      }
    };
    if (query.kind === 'all') {
      // Match-all (listing by filter) is the common case: no score map over every document.
      for (const doc of this.byId.values()) consider(doc, 1);
    } else {
      for (const [id, score] of this.evaluateText(query, searchFields) ?? [])
        consider(this.byId.get(id), score);
    }
    matches.sort(compareMatches(orderBy));

    const pageSize = Math.min(top ?? SEARCH_SERVICE_LIMITS.defaultTop, SEARCH_SERVICE_LIMITS.maxTop);
    const page = matches.slice(skip, skip + pageSize);
    const highlightTerms = highlightFields.length > 0 ? collectHighlightTerms(query) : null;
    const response: Values = {};
    if (request['count'] === true) response['@odata.count'] = matches.length;
    if (facets.length > 0)
      response['@search.facets'] = this.facetCounts(
        facets,
        matches.map((m) => m.doc),
      );
    response['value'] = page.map(({ doc, score }) => {
      const hit: Values = { '@search.score': score };
      if (highlightTerms) {
        const highlights: Record<string, string[]> = {};
        for (const field of highlightFields) {
          const fragments = highlight(field, doc.values[field.name], highlightTerms, preTag, postTag);
          if (fragments.length > 0) highlights[field.name] = fragments;
        }
        if (Object.keys(highlights).length > 0) hit['@search.highlights'] = highlights;
      }
      return { ...hit, ...this.project(doc.values, select) };
    });
    // Like the service: a page cut short by the page-size cap (not by `top`) says how to ask for the rest.
    const requested = top ?? Infinity;
    const shown = skip + page.length;
    if (shown < matches.length && page.length === pageSize && pageSize < requested) {
      const nextPage: Values = { ...request, skip: shown };
      if (top !== undefined) nextPage['top'] = top - page.length;
      response['@search.nextPageParameters'] = nextPage;
      // The SDK only follows nextPageParameters when a nextLink comes with them.
      if (nextLink !== undefined) response['@odata.nextLink'] = nextLink;
    }
    return response;
  }

  private evaluateText(query: TextQuery, fields: FieldIndex[]): Scores | null {
    switch (query.kind) {
      case 'all': {
        const all: Scores = new Map();
        for (const id of this.byId.keys()) all.set(id, 1);
        return all;
      }
      case 'term':
      case 'phrase': {
        let result: Scores | null = null;
        for (const index of fields) {
          const analyzed = analyze(query.text, index.field.analyzer ?? 'standard.lucene');
          if (analyzed.length === 0) continue;
          const tokens = analyzed.map((t) => t.term);
          const scores =
            query.kind === 'term' && query.prefix && tokens.length === 1
              ? index.prefix(tokens[0])
              : index.score(
                  tokens,
                  analyzed.map((t) => t.position - analyzed[0].position),
                );
          result = union(result ?? new Map(), scores);
        }
        return result;
      }
      case 'not': {
        const inner = this.evaluateText(query.operand, fields);
        if (inner === null) return null;
        const rest: Scores = new Map();
        for (const id of this.byId.keys()) if (!inner.has(id)) rest.set(id, 0);
        return rest;
      }
      case 'and':
      case 'or': {
        const left = this.evaluateText(query.left, fields);
        const right = this.evaluateText(query.right, fields);
        if (left === null) return right;
        if (right === null) return left;
        return query.kind === 'or' ? union(left, right) : intersection(left, right);
      }
    }
  }

  private searchFields(value: string | undefined): FieldIndex[] {
    if (value === undefined || value.trim() === '') return [...this.fieldIndexes.values()];
    return value.split(',').map((raw) => {
      const name = raw.trim();
      const index = this.fieldIndexes.get(name);
      if (!index) {
        throw invalidParameter(
          'searchFields',
          `The field '${name}' in the search field list is not defined or is not searchable.`,
        );
      }
      return index;
    });
  }

  private highlightFields(value: string | undefined): FieldDefinition[] {
    if (value === undefined || value.trim() === '') return [];
    return value.split(',').map((raw) => {
      const name = raw.trim();
      const field = this.definitionValue.byName.get(name);
      if (!field || !field.searchable) {
        throw invalidParameter(
          'highlight',
          `The field '${name}' in the highlight list is not defined or is not searchable.`,
        );
      }
      return field;
    });
  }

  private selectedFields(value: string | undefined, parameter: string): FieldDefinition[] {
    const retrievable = this.definitionValue.fields.filter((f) => f.retrievable);
    if (value === undefined || value.trim() === '' || value.trim() === '*') return retrievable;
    return value.split(',').map((raw) => {
      const name = raw.trim();
      const field = this.definitionValue.byName.get(name);
      if (!field || !field.retrievable) {
        throw invalidParameter(
          parameter,
          `Invalid expression: Could not find a property named '${name}' on type 'search.document'.`,
        );
      }
      return field;
    });
  }

  private project(values: Values, fields: FieldDefinition[]): Values {
    const out: Values = {};
    for (const field of fields) out[field.name] = values[field.name] ?? null;
    return out;
  }

  private orderBy(value: string | undefined): OrderBy {
    if (value === undefined || value.trim() === '') return [];
    const clauses = value.split(',');
    if (clauses.length > SEARCH_SERVICE_LIMITS.maxOrderByClauses) {
      throw invalidParameter(
        '$orderby',
        `At most ${SEARCH_SERVICE_LIMITS.maxOrderByClauses} clauses are allowed.`,
      );
    }
    return clauses.map((clause) => {
      const match = /^\s*(search\.score\(\)|[A-Za-z][A-Za-z0-9_]*)(?:\s+(asc|desc))?\s*$/.exec(clause);
      if (!match) throw invalidParameter('$orderby', `Invalid expression: Syntax error in '${value}'.`);
      const descending = match[2] === 'desc';
      if (match[1] === 'search.score()') return { field: null, descending };
      const field = this.definitionValue.byName.get(match[1]);
      if (!field) {
        throw invalidParameter(
          '$orderby',
          `Invalid expression: Could not find a property named '${match[1]}' on type 'search.document'.`,
        );
      }
      if (!field.sortable || field.collection) {
        throw invalidParameter('$orderby', `Invalid expression: The field '${field.name}' is not sortable.`);
      }
      return { field, descending };
    });
  }

  private facetSpecs(value: unknown): { field: FieldDefinition; count: number; sort: string }[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw invalidParameter('facet', 'facets must be an array of strings.');
    }
    return (value as string[]).map((spec) => {
      const [rawName, ...params] = spec.split(',');
      const name = rawName.trim();
      const field = this.definitionValue.byName.get(name);
      if (!field) throw invalidParameter('facet', `The field '${name}' is not defined.`);
      if (!field.facetable) {
        throw invalidParameter(
          'facet',
          `The field '${name}' is not facetable. Only facetable fields can be used.`,
        );
      }
      let count: number = SEARCH_SERVICE_LIMITS.defaultFacetCount;
      let sort = 'count';
      for (const param of params) {
        const [key, val] = param.split(':').map((s) => s.trim());
        if (key === 'count' && /^\d+$/.test(val ?? '')) count = Number(val);
        else if (key === 'sort' && ['count', '-count', 'value', '-value'].includes(val ?? '')) sort = val;
        else if (key === 'interval' || key === 'values' || key === 'timeoffset')
          throw notSupported(`facet parameter '${key}'`);
        else throw invalidParameter('facet', `Invalid facet expression '${spec}'.`);
      }
      return { field, count, sort };
    });
  }

  private facetCounts(
    specs: { field: FieldDefinition; count: number; sort: string }[],
    docs: StoredDocument[],
  ): Record<string, { value: unknown; count: number }[]> {
    const out: Record<string, { value: unknown; count: number }[]> = {};
    for (const { field, count, sort } of specs) {
      const counts = new Map<unknown, number>();
      for (const doc of docs) {
        const raw = doc.values[field.name];
        const values = field.collection
          ? new Set((raw as unknown[] | null) ?? [])
          : raw === null
            ? []
            : [raw];
        for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const byValue = (a: unknown, b: unknown) => compareNullsFirst(sortValue(field, a), sortValue(field, b));
      const entries = [...counts].map(([value, n]) => ({ value, count: n }));
      entries.sort((a, b) => {
        switch (sort) {
          case '-count':
            return a.count - b.count || byValue(a.value, b.value);
          case 'value':
            return byValue(a.value, b.value);
          case '-value':
            return byValue(b.value, a.value);
          default:
            return b.count - a.count || byValue(a.value, b.value);
        }
      });
      out[field.name] = count === 0 ? entries : entries.slice(0, count);
    }
    return out;
  }
}

interface Match {
  doc: StoredDocument;
  score: number;
  /** The `$orderby` values of the document, computed once rather than in every comparison. */
  keys: unknown[];
}

type OrderBy = { field: FieldDefinition | null; descending: boolean }[];

const DEFAULT_ORDER: OrderBy = [{ field: null, descending: true }];

function sortKeys(orderBy: OrderBy, doc: StoredDocument, score: number): unknown[] {
  return (orderBy.length > 0 ? orderBy : DEFAULT_ORDER).map(({ field }) =>
    field ? sortValue(field, doc.values[field.name]) : score,
  );
}

/** By the `$orderby` clauses (score descending by default), then by write order, so pages are stable. */
function compareMatches(orderBy: OrderBy): (a: Match, b: Match) => number {
  const clauses = orderBy.length > 0 ? orderBy : DEFAULT_ORDER;
  return (a, b) => {
    for (let i = 0; i < clauses.length; i++) {
      const c = compareNullsFirst(a.keys[i], b.keys[i]);
      if (c !== 0) return clauses[i].descending ? -c : c;
    }
    return a.doc.id - b.doc.id;
  };
}

function newEtag(): string {
  return `"0x${randomBytes(8).toString('hex').toUpperCase()}"`;
}

function union(a: Scores, b: Scores): Scores {
  const out = new Map(a);
  for (const [id, s] of b) out.set(id, (out.get(id) ?? 0) + s);
  return out;
}

function intersection(a: Scores, b: Scores): Scores {
  const out: Scores = new Map();
  for (const [id, s] of a) {
    const t = b.get(id);
    if (t !== undefined) out.set(id, s + t);
  }
  return out;
}

function optionalString(request: Values, name: string): string | undefined {
  const value = request[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParameter(name, `'${name}' must be a string.`);
  return value;
}

function optionalInteger(request: Values, name: string): number | undefined {
  const value = request[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw invalidParameter(`$${name}`, `'${name}' must be an integer.`);
  return value;
}

function normaliseValue(field: FieldDefinition, value: unknown, position: number): unknown {
  if (value === null) return null;
  if (field.collection) {
    if (!Array.isArray(value)) throw conversionError(field, value, position);
    return value.map((element) => {
      if (element === null) throw conversionError(field, element, position);
      return normaliseScalar(field, element, position);
    });
  }
  return normaliseScalar(field, value, position);
}

function normaliseScalar(field: FieldDefinition, value: unknown, position: number): unknown {
  switch (field.elementType) {
    case 'Edm.String':
      if (typeof value === 'string') return value;
      break;
    case 'Edm.Int32':
      if (typeof value === 'number' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)
        return value;
      break;
    case 'Edm.Int64':
      if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
      break;
    case 'Edm.Double':
      if (typeof value === 'number') return value;
      if (value === 'NaN') return NaN;
      if (value === 'INF') return Infinity;
      if (value === '-INF') return -Infinity;
      break;
    case 'Edm.Boolean':
      if (typeof value === 'boolean') return value;
      break;
    case 'Edm.DateTimeOffset':
      if (typeof value === 'string' && DATETIME.test(value) && !Number.isNaN(Date.parse(value))) {
        return new Date(Date.parse(value)).toISOString().replace('.000Z', 'Z');
      }
      break;
  }
  throw conversionError(field, value, position);
}

function conversionError(field: FieldDefinition, value: unknown, position: number): SearchServiceError {
  const shown = typeof value === 'string' ? value.slice(0, 40) : JSON.stringify(value)?.slice(0, 40);
  return badRequest(
    `actions : ${position}: Cannot convert the literal '${shown}' to the expected type '${field.type}' (field '${field.name}').`,
  );
}

function sortValue(field: FieldDefinition, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (field.elementType === 'Edm.DateTimeOffset' && typeof value === 'string') return Date.parse(value);
  if (field.elementType === 'Edm.Boolean') return value ? 1 : 0;
  return value;
}

/** The service sorts nulls first in ascending order (and so last in descending order). */
function compareNullsFirst(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return (a as number | string) < (b as number | string)
    ? -1
    : (a as number | string) > (b as number | string)
      ? 1
      : 0;
}

function collectHighlightTerms(query: TextQuery): HighlightTerms {
  const terms: HighlightTerms = { exact: new Set(), prefixes: [] };
  const visit = (node: TextQuery) => {
    switch (node.kind) {
      case 'term':
        if (node.prefix) terms.prefixes.push(node.text.toLowerCase());
        else terms.exact.add(node.text);
        break;
      case 'phrase':
        terms.exact.add(node.text);
        break;
      case 'and':
      case 'or':
        visit(node.left);
        visit(node.right);
        break;
      // Negated clauses and match-all mark nothing.
    }
  };
  visit(query);
  return terms;
}

/** Fragments of a field around matched tokens, the tokens wrapped in the tags; the text itself untouched. */
function highlight(
  field: FieldDefinition,
  value: unknown,
  query: HighlightTerms,
  preTag: string,
  postTag: string,
): string[] {
  const analyzer = field.analyzer ?? 'standard.lucene';
  const exact = new Set<string>();
  for (const text of query.exact) for (const token of analyze(text, analyzer)) exact.add(token.term);
  const prefixes = query.prefixes.flatMap((p) => analyze(p, analyzer).map((t) => t.term));
  const texts = field.collection
    ? ((value as string[] | null) ?? [])
    : value === null
      ? []
      : [value as string];
  const fragments: string[] = [];
  for (const text of texts) {
    const marked = analyze(text, analyzer).filter(
      (t) => exact.has(t.term) || prefixes.some((p) => t.term.startsWith(p)),
    );
    fragments.push(...fragmentsOf(text, marked, preTag, postTag));
    if (fragments.length >= SEARCH_SERVICE_LIMITS.maxHighlightFragments) break;
  }
  return fragments.slice(0, SEARCH_SERVICE_LIMITS.maxHighlightFragments);
}

function fragmentsOf(text: string, marked: AnalyzedToken[], preTag: string, postTag: string): string[] {
  const fragments: string[] = [];
  let i = 0;
  while (i < marked.length && fragments.length < SEARCH_SERVICE_LIMITS.maxHighlightFragments) {
    let start = Math.max(0, marked[i].start - FRAGMENT_BEFORE);
    if (start > 0) {
      const space = text.slice(start, marked[i].start).search(/\s/);
      start = space >= 0 ? start + space + 1 : marked[i].start;
    }
    let end = Math.min(text.length, start + FRAGMENT_LENGTH);
    let j = i;
    while (j < marked.length && marked[j].start < end) {
      end = Math.max(end, marked[j].end);
      j++;
    }
    if (end < text.length) {
      const tail = text.slice(end).search(/\s/);
      end = tail >= 0 ? end + tail : text.length;
    }
    let fragment = '';
    let cursor = start;
    for (const token of marked.slice(i, j)) {
      fragment += text.slice(cursor, token.start) + preTag + text.slice(token.start, token.end) + postTag;
      cursor = token.end;
    }
    fragments.push((fragment + text.slice(cursor, end)).trim());
    i = j;
  }
  return fragments;
}
