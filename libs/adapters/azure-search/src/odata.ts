/**
 * The one way a value enters an OData `$filter` in this adapter. Every filter is assembled from field names
 * written in code and the outputs of these helpers, never from pasted input, so a value such as
 * `hot' or true or 'x` stays one string constant that matches nothing.
 */

/** A string constant: quoted, with embedded quotes doubled (the OData escape). */
export function odataString(value: string): string {
  if (typeof value !== 'string') throw new TypeError('odataString needs a string');
  return `'${value.replace(/'/g, "''")}'`;
}

/** A numeric constant; refuses NaN and infinities, which would otherwise print as words the parser reads. */
export function odataNumber(value: number): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RangeError('odataNumber needs a finite number');
  }
  return String(value);
}

/**
 * `search.in(field, 'a,b', ',')`. The values may not contain the delimiter: a comma inside a value would
 * silently split it in two, so it is refused instead.
 */
export function odataSearchIn(field: string, values: readonly string[]): string {
  for (const value of values) {
    if (value.includes(',')) throw new RangeError('search.in values must not contain ","');
  }
  return `search.in(${field}, ${odataString(values.join(','))}, ',')`;
}
