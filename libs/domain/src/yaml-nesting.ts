import { CST, Lexer } from 'yaml';

/**
 * The deepest YAML nesting a front matter may have. The `yaml` parser recurses once per level and, a few
 * thousand levels deep, exhausts the stack (from a shallow stack V8 then aborts the process), so the depth is
 * bounded before the parser runs. Metadata itself is bounded at MAX_EXTRA_DEPTH (32); this leaves room for it.
 */
export const MAX_FRONT_MATTER_NESTING = 64;

/**
 * An upper bound of the nesting depth of a YAML text, from the tokens of yaml's own lexer (a state machine:
 * it does not recurse, whatever the input). Counted: open flow collections (`[`, `{`), block levels still open
 * (each deeper indentation while shallower lines are open) and the indicators that open a level on one line
 * (`- - - x`, `? - x`, `- a: b`). Quoted and plain scalars, block scalars and comments are single tokens, so
 * brackets inside strings do not count. Returns as soon as the count passes `stopAbove`.
 */
export function yamlNestingDepth(text: string, stopAbove = Infinity): number {
  let max = 0;
  let flow = 0;
  const indents: number[] = [];
  let lineStart = true;
  let lineIndent = 0;
  let lineLevels = 0;
  const open = () => {
    const depth = indents.length + lineLevels + flow;
    if (depth > max) max = depth;
  };
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (type === 'newline') {
      lineStart = true;
      lineIndent = 0;
      lineLevels = 0;
      continue;
    }
    if (type === 'space' && lineStart) {
      lineIndent = token.length;
      continue;
    }
    if (type === 'comment' || type === 'space' || type === 'doc-mode' || type === 'byte-order-mark') continue;
    if (lineStart && flow === 0) {
      // the first token of a line in block context: deeper indentation opens a level, shallower closes them
      while (indents.length > 0 && indents[indents.length - 1] >= lineIndent) indents.pop();
      indents.push(lineIndent);
    }
    lineStart = false;
    switch (type) {
      case 'flow-map-start':
      case 'flow-seq-start':
        flow++;
        open();
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        if (flow === 0) lineLevels++;
        open();
        break;
      default:
        open();
    }
    if (max > stopAbove) return max;
  }
  return max;
}
