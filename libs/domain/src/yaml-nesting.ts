import { CST, Lexer } from 'yaml';

/**
 * The deepest YAML nesting a front matter may have. The `yaml` parser recurses once per level and, a few
 * thousand levels deep, exhausts the stack (from a shallow stack V8 then aborts the process), so the depth is
 * bounded before the parser runs. Metadata itself is bounded at MAX_EXTRA_DEPTH (32); this leaves room for it.
 */
export const MAX_FRONT_MATTER_NESTING = 64;

/**
 * An upper bound of the nesting depth of a YAML text, from the tokens of yaml's own lexer (a state machine:
 * it does not recurse, whatever the input). Counted: open flow collections (`[`, `{`) and open block nodes,
 * by column: a node starting further right than every open one (a deeper line, or a compact nested node after
 * `- `, `? `, `: ` on the same line, as in `- - - x`) opens a level; a line closes the levels at or right of
 * its indentation. Quoted and plain scalars, block scalars and comments are single tokens, so
 * brackets inside strings do not count. Returns as soon as the count passes `stopAbove`.
 */
export function yamlNestingDepth(text: string, stopAbove = Infinity): number {
  let max = 0;
  let flow = 0;
  // columns of the block nodes still open: a line pops the ones at or right of its indentation
  const open: number[] = [];
  let lineStart = true;
  let column = 0;
  let afterIndicator = false;
  for (const token of new Lexer().lex(text)) {
    // the lexer's own markers (document, scalar) are not source text
    const marker = token.length === 1 && token.charCodeAt(0) < 0x20 && token !== '\n' && token !== '\t';
    const type = CST.tokenType(token);
    const at = column;
    if (!marker) column += token.length;
    if (type === 'newline') {
      lineStart = true;
      column = 0;
      afterIndicator = false;
      continue;
    }
    if (marker || type === 'space' || type === 'comment' || type === 'byte-order-mark') continue;
    if (flow === 0 && (lineStart || afterIndicator)) {
      // a node starts here: first on its line (the indentation opens or closes levels), or after `-`, `?`,
      // `:` on the same line (a compact nested collection may start here)
      if (lineStart) while (open.length > 0 && open[open.length - 1] >= at) open.pop();
      if (open.length === 0 || open[open.length - 1] < at) open.push(at);
    }
    lineStart = false;
    afterIndicator = false;
    switch (type) {
      case 'flow-map-start':
      case 'flow-seq-start':
        flow++;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flow = Math.max(0, flow - 1);
        break;
      case 'seq-item-ind':
      case 'explicit-key-ind':
      case 'map-value-ind':
        afterIndicator = flow === 0;
        break;
    }
    const depth = open.length + flow;
    if (depth > max) {
      max = depth;
      if (max > stopAbove) return max;
    }
  }
  return max;
}
