import { parse as parseYaml, YAMLParseError } from 'yaml';
import { DomainError } from './errors';
import { parseMetadata, TwinMetadata } from './metadata';
import { MAX_FRONT_MATTER_NESTING, yamlNestingDepth } from './yaml-nesting';

/** A twin document as accepted: the exact bytes to store and the metadata extracted from the request. */
export interface TwinDocument {
  markdown: Buffer;
  metadata: TwinMetadata;
}

const FRONT_MATTER = /^\uFEFF?---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

/**
 * `text/markdown` body: the whole body is the stored document, byte for byte; YAML front matter, if present,
 * is the metadata. The YAML core schema is used (no timestamps, no custom tags), aliases are bounded.
 */
export function documentFromMarkdown(body: Buffer): TwinDocument {
  const text = decodeUtf8(body);
  const match = FRONT_MATTER.exec(text);
  let raw: unknown = {};
  if (match) {
    if (yamlNestingDepth(match[1], MAX_FRONT_MATTER_NESTING) > MAX_FRONT_MATTER_NESTING) {
      throw new DomainError(
        'TWIN.INVALID_DOCUMENT',
        `front matter is nested more than ${MAX_FRONT_MATTER_NESTING} levels deep`,
      );
    }
    try {
      raw = parseYaml(match[1], { schema: 'core', maxAliasCount: 50, prettyErrors: false, uniqueKeys: true });
    } catch (e) {
      const where = e instanceof YAMLParseError && e.linePos ? ` (line ${e.linePos[0].line})` : '';
      throw new DomainError('TWIN.INVALID_DOCUMENT', `front matter is not valid YAML${where}`);
    }
    if (raw === null || raw === undefined) raw = {};
  }
  return { markdown: body, metadata: parseMetadata(raw) };
}

/** `application/json` body `{ "markdown": "...", "metadata": {...} }`. */
export function documentFromJson(value: unknown): TwinDocument {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DomainError(
      'TWIN.INVALID_DOCUMENT',
      'body must be a JSON object with "markdown" and "metadata"',
    );
  }
  const { markdown, metadata, ...rest } = value as Record<string, unknown>;
  const unknownKeys = Object.keys(rest);
  if (unknownKeys.length > 0) {
    throw new DomainError(
      'TWIN.INVALID_DOCUMENT',
      'body has unknown fields',
      unknownKeys.slice(0, 20).map((k) => ({ path: k.slice(0, 64), message: 'unknown field' })),
    );
  }
  if (typeof markdown !== 'string') {
    throw new DomainError('TWIN.INVALID_DOCUMENT', '"markdown" must be a string', [
      { path: 'markdown', message: 'expected a string' },
    ]);
  }
  return { markdown: Buffer.from(markdown, 'utf8'), metadata: parseMetadata(metadata) };
}

function decodeUtf8(body: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new DomainError('TWIN.INVALID_DOCUMENT', 'markdown must be valid UTF-8');
  }
}
