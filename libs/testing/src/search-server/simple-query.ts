/**
 * The `simple` query syntax (`queryType: 'simple'`, Lucene's SimpleQueryParser): `+` and, `|` or, `-` not
 * (at the start of a clause), `"phrase"`, `prefix*`, `( )` grouping, `\` escapes the next character; `~N`
 * suffixes (fuzzy, proximity) are accepted and ignored. Clauses without an explicit operator are joined by
 * the search mode's default (`all`: and, `any`: or), left to right, so `a -b` in `any` mode is `a or not b`,
 * exactly the service's well-known surprise. `*` alone (or empty text) matches every document.
 */
export type TextQuery =
  | { kind: 'all' }
  | { kind: 'term'; text: string; prefix: boolean }
  | { kind: 'phrase'; text: string }
  | { kind: 'not'; operand: TextQuery }
  | { kind: 'and' | 'or'; left: TextQuery; right: TextQuery };

const TERM_END = new Set([' ', '\t', '\r', '\n', '"', '|', '+', '(', ')']);
const MAX_DEPTH = 50;

export function parseSimpleQuery(text: string, mode: 'any' | 'all'): TextQuery {
  const parser = new SimpleQueryParser(text, mode === 'all' ? 'and' : 'or');
  return parser.parse() ?? { kind: 'all' };
}

class SimpleQueryParser {
  private index = 0;
  private depth = 0;

  constructor(
    private readonly text: string,
    private readonly defaultOperator: 'and' | 'or',
  ) {}

  parse(): TextQuery | null {
    return this.parseSequence(false);
  }

  private parseSequence(inGroup: boolean): TextQuery | null {
    let tree: TextQuery | null = null;
    let operator: 'and' | 'or' | null = null;
    let negations = 0;
    const add = (clause: TextQuery | null) => {
      if (clause !== null) {
        const node: TextQuery = negations % 2 === 1 ? { kind: 'not', operand: clause } : clause;
        tree = tree === null ? node : { kind: operator ?? this.defaultOperator, left: tree, right: node };
      }
      operator = null;
      negations = 0;
    };
    while (this.index < this.text.length) {
      const c = this.text[this.index];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
        this.index++;
      } else if (c === '+') {
        operator = 'and';
        this.index++;
      } else if (c === '|') {
        operator = 'or';
        this.index++;
      } else if (c === '-') {
        negations++;
        this.index++;
      } else if (c === '(') {
        this.index++;
        if (++this.depth > MAX_DEPTH) throw new RangeError('query nested too deeply');
        const group = this.parseSequence(true);
        this.depth--;
        add(group);
      } else if (c === ')') {
        this.index++;
        // An unbalanced ")" outside a group is ignored, as Lucene does.
        if (inGroup) return tree;
      } else if (c === '"') {
        add(this.consumePhrase());
      } else {
        add(this.consumeTerm());
      }
    }
    return tree;
  }

  private consumePhrase(): TextQuery | null {
    const start = this.index;
    let text = '';
    let i = start + 1;
    while (i < this.text.length) {
      const c = this.text[i];
      if (c === '\\' && i + 1 < this.text.length) {
        text += this.text[i + 1];
        i += 2;
        continue;
      }
      if (c === '"') {
        this.index = i + 1;
        this.skipSlop();
        return { kind: 'phrase', text };
      }
      text += c;
      i++;
    }
    // No closing quote: the quote is ignored and the rest read as ordinary clauses (Lucene's behaviour).
    this.index = start + 1;
    return null;
  }

  private consumeTerm(): TextQuery | null {
    let text = '';
    let lastEscaped = false;
    while (this.index < this.text.length) {
      const c = this.text[this.index];
      if (c === '\\' && this.index + 1 < this.text.length) {
        text += this.text[this.index + 1];
        this.index += 2;
        lastEscaped = true;
        continue;
      }
      if (TERM_END.has(c)) break;
      if (c === '~') {
        this.index++;
        this.skipDigits();
        break;
      }
      text += c;
      lastEscaped = false;
      this.index++;
    }
    if (text === '*' && !lastEscaped) return { kind: 'all' };
    const prefix = text.endsWith('*') && !lastEscaped;
    const body = prefix ? text.slice(0, -1) : text;
    return body.length === 0 ? null : { kind: 'term', text: body, prefix };
  }

  private skipSlop(): void {
    if (this.text[this.index] === '~') {
      this.index++;
      this.skipDigits();
    }
  }

  private skipDigits(): void {
    while (this.index < this.text.length && /[0-9.]/.test(this.text[this.index])) this.index++;
  }
}
