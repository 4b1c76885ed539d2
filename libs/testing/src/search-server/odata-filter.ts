import { FieldDefinition, IndexDefinition, ScalarType } from './index-schema';
import { invalidParameter, notSupported, SearchServiceError } from './search-service-error';

/**
 * The `$filter` language of Azure AI Search (an OData subset), parsed for real: a string that does not parse
 * is a 400, the way the service answers, so an adapter that builds filters by pasting input fails in tests.
 *
 * Precedence, loosest first: `or`, `and`, `not`, then comparisons and functions. Comparisons take a field (or
 * a lambda's range variable) on one side and a constant on the other. Supported: `eq ne gt ge lt le`,
 * `and or not`, parentheses, `search.in(field, 'a,b'[, 'delimiters'])`, `coll/any(v: ...)`, `coll/any()`,
 * `coll/all(v: ...)`, boolean fields and `true`/`false` as expressions; constants: strings (`''` escapes a
 * quote), numbers (and `INF`, `-INF`, `NaN`), `true`, `false`, `null`, DateTimeOffset (`2024-05-01T00:00:00Z`).
 */

type Literal =
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'null' }
  | { kind: 'datetime'; value: number };

type ComparisonOperator = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';

/** Where a value comes from: a document field, or the element a lambda is looking at. */
type ValueRef = { kind: 'field'; field: FieldDefinition } | { kind: 'variable'; type: ScalarType };

export type FilterNode =
  | { kind: 'or' | 'and'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'constant'; value: boolean }
  | { kind: 'booleanField'; ref: ValueRef }
  | { kind: 'compare'; op: ComparisonOperator; ref: ValueRef; literal: Literal }
  | { kind: 'in'; ref: ValueRef; values: Set<string> }
  | { kind: 'lambda'; quantifier: 'any' | 'all'; field: FieldDefinition; body: FilterNode | null };

type Token =
  | { kind: 'identifier'; text: string; position: number }
  | { kind: 'literal'; literal: Literal; position: number }
  | { kind: 'punctuation'; text: '(' | ')' | ',' | ':' | '/'; position: number }
  | { kind: 'end'; position: number };

const COMPARISON_OPERATORS = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const MAX_DEPTH = 100;

const IDENTIFIER = /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/y;
const DATETIME =
  /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})(?![A-Za-z0-9_.])/y;
const NUMBER = /-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![A-Za-z0-9_.])/y;

class FilterSyntaxError extends Error {
  constructor(readonly position: number) {
    super(`syntax error at ${position}`);
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === ':' || c === '/') {
      tokens.push({ kind: 'punctuation', text: c, position: i });
      i++;
      continue;
    }
    if (c === "'") {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new FilterSyntaxError(start);
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
      tokens.push({ kind: 'literal', literal: { kind: 'string', value }, position: start });
      continue;
    }
    DATETIME.lastIndex = i;
    const date = DATETIME.exec(text);
    if (date) {
      const ms = Date.parse(date[0]);
      if (Number.isNaN(ms)) throw new FilterSyntaxError(i);
      tokens.push({ kind: 'literal', literal: { kind: 'datetime', value: ms }, position: i });
      i += date[0].length;
      continue;
    }
    NUMBER.lastIndex = i;
    const number = NUMBER.exec(text);
    if (number) {
      tokens.push({ kind: 'literal', literal: { kind: 'number', value: Number(number[0]) }, position: i });
      i += number[0].length;
      continue;
    }
    if (text.startsWith('-INF', i) && !/[A-Za-z0-9_]/.test(text[i + 4] ?? '')) {
      tokens.push({ kind: 'literal', literal: { kind: 'number', value: -Infinity }, position: i });
      i += 4;
      continue;
    }
    IDENTIFIER.lastIndex = i;
    const identifier = IDENTIFIER.exec(text);
    if (identifier) {
      tokens.push({ kind: 'identifier', text: identifier[0], position: i });
      i += identifier[0].length;
      continue;
    }
    throw new FilterSyntaxError(i);
  }
  tokens.push({ kind: 'end', position: text.length });
  return tokens;
}

/** Keyword constants; OData keywords are case-sensitive, so `True` or `AND` are not keywords. */
function keywordLiteral(text: string): Literal | null {
  switch (text) {
    case 'true':
      return { kind: 'boolean', value: true };
    case 'false':
      return { kind: 'boolean', value: false };
    case 'null':
      return { kind: 'null' };
    case 'INF':
      return { kind: 'number', value: Infinity };
    case 'NaN':
      return { kind: 'number', value: NaN };
    default:
      return null;
  }
}

class FilterParser {
  private index = 0;
  private depth = 0;
  /** Lambda range variables in scope, innermost last. */
  private readonly variables: { name: string; type: ScalarType; quantifier: 'any' | 'all' }[] = [];

  constructor(
    private readonly tokens: Token[],
    private readonly schema: IndexDefinition,
    private readonly fail: (message: string) => SearchServiceError,
  ) {}

  parse(): FilterNode {
    const node = this.parseOr();
    if (this.peek().kind !== 'end') throw new FilterSyntaxError(this.peek().position);
    return node;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)];
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.index++;
    return token;
  }

  private isKeyword(text: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'identifier' && token.text === text;
  }

  private isPunctuation(text: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'punctuation' && token.text === text;
  }

  private expectPunctuation(text: string): void {
    const token = this.next();
    if (token.kind !== 'punctuation' || token.text !== text) throw new FilterSyntaxError(token.position);
  }

  private parseOr(): FilterNode {
    let left = this.parseAnd();
    while (this.isKeyword('or')) {
      this.next();
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): FilterNode {
    let left = this.parseNot();
    while (this.isKeyword('and')) {
      this.next();
      left = { kind: 'and', left, right: this.parseNot() };
    }
    return left;
  }

  private parseNot(): FilterNode {
    if (this.isKeyword('not')) {
      this.next();
      return { kind: 'not', operand: this.nested(() => this.parseNot()) };
    }
    return this.parsePrimary();
  }

  private nested<T>(parse: () => T): T {
    if (++this.depth > MAX_DEPTH) throw this.fail('Invalid expression: The filter is nested too deeply.');
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private parsePrimary(): FilterNode {
    const token = this.peek();
    if (token.kind === 'punctuation' && token.text === '(') {
      this.next();
      const inner = this.nested(() => this.parseOr());
      this.expectPunctuation(')');
      return inner;
    }
    if (token.kind === 'end' || token.kind === 'punctuation') throw new FilterSyntaxError(token.position);

    if (token.kind === 'identifier' && this.isPunctuation('(', 1)) return this.parseFunction();
    if (token.kind === 'identifier' && this.isPunctuation('/', 1)) return this.parseLambda();

    const left = this.parseOperand();
    const operator = this.peek();
    if (operator.kind === 'identifier' && COMPARISON_OPERATORS.has(operator.text)) {
      this.next();
      const right = this.parseOperand();
      return this.comparison(operator.text as ComparisonOperator, left, right, operator.position);
    }
    if (left.kind === 'literal') {
      if (left.literal.kind === 'boolean') return { kind: 'constant', value: left.literal.value };
      throw this.fail('Invalid expression: A constant other than true or false cannot be used as a filter.');
    }
    if (
      left.ref.kind === 'field'
        ? left.ref.field.elementType !== 'Edm.Boolean'
        : left.ref.type !== 'Edm.Boolean'
    ) {
      throw this.fail(
        `Invalid expression: The expression '${left.name}' is not a Boolean expression; compare it with eq, ne, gt, ge, lt or le.`,
      );
    }
    if (left.ref.kind === 'field') this.requireFilterable(left.ref.field);
    return { kind: 'booleanField', ref: left.ref };
  }

  private parseOperand():
    | { kind: 'literal'; literal: Literal }
    | { kind: 'ref'; ref: ValueRef; name: string; collection: boolean } {
    const token = this.next();
    if (token.kind === 'literal') return { kind: 'literal', literal: token.literal };
    if (token.kind !== 'identifier') throw new FilterSyntaxError(token.position);
    const constant = keywordLiteral(token.text);
    if (constant) return { kind: 'literal', literal: constant };
    if (['and', 'or', 'not', 'eq', 'ne', 'gt', 'ge', 'lt', 'le', 'any', 'all'].includes(token.text)) {
      throw new FilterSyntaxError(token.position);
    }
    const variable = [...this.variables].reverse().find((v) => v.name === token.text);
    if (variable)
      return {
        kind: 'ref',
        ref: { kind: 'variable', type: variable.type },
        name: token.text,
        collection: false,
      };
    const field = this.field(token.text);
    return { kind: 'ref', ref: { kind: 'field', field }, name: token.text, collection: field.collection };
  }

  private field(name: string): FieldDefinition {
    if (name.includes('.')) throw notSupported(`function or path '${name}' in $filter`);
    const field = this.schema.byName.get(name);
    if (!field) {
      throw this.fail(
        `Invalid expression: Could not find a property named '${name}' on type 'search.document'.`,
      );
    }
    return field;
  }

  private requireFilterable(field: FieldDefinition): void {
    if (!field.filterable) {
      throw this.fail(
        `Invalid expression: The field '${field.name}' is not filterable. Only filterable fields can be used in filter expressions.`,
      );
    }
  }

  private comparison(
    op: ComparisonOperator,
    left: ReturnType<FilterParser['parseOperand']>,
    right: ReturnType<FilterParser['parseOperand']>,
    position: number,
  ): FilterNode {
    let ref: ValueRef;
    let literal: Literal;
    let effective = op;
    if (left.kind === 'ref' && right.kind === 'literal') {
      ref = left.ref;
      literal = right.literal;
      if (left.collection) throw this.collectionComparison(left.name);
    } else if (left.kind === 'literal' && right.kind === 'ref') {
      ref = right.ref;
      literal = left.literal;
      if (right.collection) throw this.collectionComparison(right.name);
      // `5 lt age` is `age gt 5`.
      const mirrored: Record<ComparisonOperator, ComparisonOperator> = {
        eq: 'eq',
        ne: 'ne',
        gt: 'lt',
        ge: 'le',
        lt: 'gt',
        le: 'ge',
      };
      effective = mirrored[op];
    } else if (left.kind === 'ref' && right.kind === 'ref') {
      throw this.fail(
        `Invalid expression: Comparisons must compare a field or range variable with a constant; '${left.name}' and '${right.name}' are both fields (at position ${position}).`,
      );
    } else {
      throw this.fail(
        `Invalid expression: A comparison must involve a field or range variable (at position ${position}).`,
      );
    }
    if (ref.kind === 'field') this.requireFilterable(ref.field);
    const type = ref.kind === 'field' ? ref.field.elementType : ref.type;
    this.checkLiteralType(type, effective, literal);
    return { kind: 'compare', op: effective, ref, literal };
  }

  private collectionComparison(name: string): SearchServiceError {
    return this.fail(
      `Invalid expression: '${name}' is a collection; use any() or all() to filter on its elements.`,
    );
  }

  private checkLiteralType(type: ScalarType, op: ComparisonOperator, literal: Literal): void {
    if (literal.kind === 'null') {
      if (op !== 'eq' && op !== 'ne')
        throw this.fail(`Invalid expression: null can only be compared with eq or ne.`);
      return;
    }
    const expected: Record<ScalarType, Literal['kind']> = {
      'Edm.String': 'string',
      'Edm.Int32': 'number',
      'Edm.Int64': 'number',
      'Edm.Double': 'number',
      'Edm.Boolean': 'boolean',
      'Edm.DateTimeOffset': 'datetime',
    };
    if (expected[type] !== literal.kind) {
      throw this.fail(
        `Invalid expression: A ${literal.kind} constant cannot be compared with a value of type '${type}'.`,
      );
    }
    if (type === 'Edm.Boolean' && op !== 'eq' && op !== 'ne') {
      throw this.fail(`Invalid expression: Boolean values can only be compared with eq or ne.`);
    }
  }

  private parseFunction(): FilterNode {
    const name = this.next() as Extract<Token, { kind: 'identifier' }>;
    this.expectPunctuation('(');
    if (name.text !== 'search.in') {
      if (['search.ismatch', 'search.ismatchscoring', 'geo.distance', 'geo.intersects'].includes(name.text)) {
        throw notSupported(`function '${name.text}' in $filter`);
      }
      throw this.fail(`Invalid expression: Unknown function '${name.text}' at position ${name.position}.`);
    }
    const target = this.parseOperand();
    if (target.kind !== 'ref' || target.collection) {
      throw this.fail(
        'Invalid expression: The first argument of search.in must be a field or range variable.',
      );
    }
    const type = target.ref.kind === 'field' ? target.ref.field.elementType : target.ref.type;
    if (type !== 'Edm.String')
      throw this.fail('Invalid expression: search.in only applies to string values.');
    if (target.ref.kind === 'field') this.requireFilterable(target.ref.field);
    this.expectPunctuation(',');
    const list = this.stringArgument();
    let delimiters = ' ,';
    if (this.isPunctuation(',')) {
      this.next();
      delimiters = this.stringArgument();
      if (delimiters.length === 0)
        throw this.fail('Invalid expression: search.in delimiters must not be empty.');
    }
    this.expectPunctuation(')');
    const values = new Set<string>();
    let current = '';
    for (const c of list) {
      if (delimiters.includes(c)) {
        if (current) values.add(current);
        current = '';
      } else current += c;
    }
    if (current) values.add(current);
    return { kind: 'in', ref: target.ref, values };
  }

  private stringArgument(): string {
    const token = this.next();
    if (token.kind !== 'literal' || token.literal.kind !== 'string')
      throw new FilterSyntaxError(token.position);
    return token.literal.value;
  }

  private parseLambda(): FilterNode {
    const name = this.next() as Extract<Token, { kind: 'identifier' }>;
    const field = this.field(name.text);
    this.expectPunctuation('/');
    const quantifierToken = this.next();
    if (
      quantifierToken.kind !== 'identifier' ||
      (quantifierToken.text !== 'any' && quantifierToken.text !== 'all')
    ) {
      throw new FilterSyntaxError(quantifierToken.position);
    }
    const quantifier = quantifierToken.text;
    if (!field.collection) {
      throw this.fail(
        `Invalid expression: any() and all() apply only to collection fields; '${field.name}' is not one.`,
      );
    }
    this.requireFilterable(field);
    this.expectPunctuation('(');
    if (this.isPunctuation(')')) {
      this.next();
      if (quantifier === 'all') throw this.fail('Invalid expression: all() needs a lambda expression.');
      return { kind: 'lambda', quantifier, field, body: null };
    }
    const variable = this.next();
    if (variable.kind !== 'identifier' || keywordLiteral(variable.text) || variable.text.includes('.')) {
      throw new FilterSyntaxError(variable.position);
    }
    this.expectPunctuation(':');
    this.variables.push({ name: variable.text, type: field.elementType, quantifier });
    let body: FilterNode;
    try {
      body = this.nested(() => this.parseOr());
    } finally {
      this.variables.pop();
    }
    this.expectPunctuation(')');
    if (field.elementType === 'Edm.String') this.checkStringLambda(quantifier, body);
    return { kind: 'lambda', quantifier, field, body };
  }

  /**
   * The service only runs string-collection lambdas it can answer from the inverted index: in any(), equality
   * or search.in joined by `or`; in all(), inequality or `not search.in` joined by `and`. It refuses the rest.
   */
  private checkStringLambda(quantifier: 'any' | 'all', body: FilterNode): void {
    const ok = (node: FilterNode): boolean => {
      if (quantifier === 'any') {
        if (node.kind === 'or') return ok(node.left) && ok(node.right);
        return (node.kind === 'compare' && node.op === 'eq') || node.kind === 'in';
      }
      if (node.kind === 'and') return ok(node.left) && ok(node.right);
      return (
        (node.kind === 'compare' && node.op === 'ne') || (node.kind === 'not' && node.operand.kind === 'in')
      );
    };
    if (!ok(body)) {
      throw this.fail(
        quantifier === 'any'
          ? "Invalid expression: Invalid lambda expression. Found a test for equality or inequality where the opposite was expected in a lambda expression that iterates over a field of type Collection(Edm.String). For 'any', please use expressions of the form 'x eq y' or 'search.in(...)'."
          : "Invalid expression: Invalid lambda expression. Found a test for equality or inequality where the opposite was expected in a lambda expression that iterates over a field of type Collection(Edm.String). For 'all', please use expressions of the form 'x ne y' or 'not search.in(...)'.",
      );
    }
  }
}

/** Parses `$filter` against the index schema; a 400 SearchServiceError when it does not parse or type-check. */
export function parseFilter(text: string, schema: IndexDefinition): FilterNode {
  const fail = (message: string) => invalidParameter('$filter', message);
  try {
    return new FilterParser(tokenize(text), schema, fail).parse();
  } catch (e) {
    if (e instanceof FilterSyntaxError) {
      throw fail(`Invalid expression: Syntax error at position ${e.position} in '${text}'.`);
    }
    throw e;
  }
}

export type DocumentValues = Readonly<Record<string, unknown>>;

/** Whether a document (field values as stored; DateTimeOffsets as ISO strings) passes the filter. */
export function evaluateFilter(node: FilterNode, document: DocumentValues): boolean {
  return evaluate(node, document, undefined);
}

function evaluate(node: FilterNode, document: DocumentValues, element: unknown): boolean {
  switch (node.kind) {
    case 'or':
      return evaluate(node.left, document, element) || evaluate(node.right, document, element);
    case 'and':
      return evaluate(node.left, document, element) && evaluate(node.right, document, element);
    case 'not':
      return !evaluate(node.operand, document, element);
    case 'constant':
      return node.value;
    case 'booleanField':
      return resolve(node.ref, document, element) === true;
    case 'in': {
      const value = resolve(node.ref, document, element);
      return typeof value === 'string' && node.values.has(value);
    }
    case 'compare':
      return compare(node.op, resolve(node.ref, document, element), node.literal, refType(node.ref));
    case 'lambda': {
      const values = document[node.field.name];
      const items = Array.isArray(values) ? values : [];
      const body = node.body;
      if (body === null) return items.length > 0;
      return node.quantifier === 'any'
        ? items.some((item) => evaluate(body, document, item))
        : items.every((item) => evaluate(body, document, item));
    }
  }
}

function refType(ref: ValueRef): ScalarType {
  return ref.kind === 'field' ? ref.field.elementType : ref.type;
}

function resolve(ref: ValueRef, document: DocumentValues, element: unknown): unknown {
  return ref.kind === 'field' ? (document[ref.field.name] ?? null) : element;
}

function compare(op: ComparisonOperator, raw: unknown, literal: Literal, type: ScalarType): boolean {
  const value = type === 'Edm.DateTimeOffset' && typeof raw === 'string' ? Date.parse(raw) : raw;
  const constant = literal.kind === 'null' ? null : literal.value;
  if (op === 'eq') return value === constant || (value === null && constant === null);
  if (op === 'ne') return !(value === constant || (value === null && constant === null));
  // Range comparisons never match null, on either side.
  if (value === null || value === undefined || constant === null) return false;
  const a = value as number | string;
  const b = constant as number | string;
  switch (op) {
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
  }
}
