import { describe, expect, it } from 'vitest';
import {
  cacheTtlSeconds,
  compareVersions,
  contentPath,
  deriveTier,
  documentFromJson,
  documentFromMarkdown,
  DomainError,
  imagePath,
  isLeadId,
  metadataPath,
  parseContentPath,
  parseLeadId,
  parseMetadata,
  VersionGenerator,
  versionTime,
} from './index';

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as DomainError).code;
  }
  return 'no error';
};

describe('leadId', () => {
  it.each(['a', 'A1', '0', 'c82e9186-babb-465e-bc5f-77483fec5678', 'lead_1', 'x'.repeat(128)])(
    'accepts %s',
    (id) => {
      expect(isLeadId(id)).toBe(true);
    },
  );
  it.each(['', '..', 'a/b', '%2F', 'a%2Fb', '-a', '_a', 'a b', 'a.b', 'x'.repeat(129), 'é', 'a\n'])(
    'refuses %j',
    (id) => {
      expect(code(() => parseLeadId(id))).toBe('TWIN.INVALID_LEAD_ID');
    },
  );
  it('refuses non-strings', () => {
    expect(isLeadId(42)).toBe(false);
    expect(isLeadId(undefined)).toBe(false);
  });
});

describe('versions', () => {
  it('are ULIDs whose order is time order and whose time is recoverable', () => {
    let t = Date.UTC(2026, 0, 9, 14, 30);
    const gen = new VersionGenerator(() => new Date(t));
    const a = gen.next();
    const b = gen.next(); // same millisecond: still increasing
    t += 1;
    const c = gen.next();
    expect(a).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(compareVersions(a, b)).toBe(-1);
    expect(compareVersions(b, c)).toBe(-1);
    expect(versionTime(a).toISOString()).toBe('2026-01-09T14:30:00.000Z');
    expect(versionTime(c).getTime()).toBe(t);
  });
  it('never go backwards when the clock does', () => {
    let t = 1_000_000;
    const gen = new VersionGenerator(() => new Date(t));
    const a = gen.next();
    t -= 500;
    expect(gen.next() > a).toBe(true);
  });
});

describe('blob paths (the seed layout)', () => {
  const gen = new VersionGenerator(() => new Date(Date.UTC(2025, 0, 9, 23, 59)));
  const v = gen.next();
  it('dates content by the version day (UTC)', () => {
    expect(contentPath('c82e9186', v)).toBe('digital-twins/2025/01/09/c82e9186.md');
    expect(parseContentPath('digital-twins/2025/01/09/c82e9186.md')).toEqual({
      leadId: 'c82e9186',
      day: '2025-01-09',
    });
    expect(parseContentPath('digital-twins/metadata/x.json')).toBeNull();
  });
  it('puts the pointer and images where the seed says', () => {
    expect(metadataPath('lead-1')).toBe('digital-twins/metadata/lead-1.json');
    expect(imagePath('lead-1', 'thumbnail')).toBe('persona-images/lead-1/thumbnail.png');
  });
  it('cannot be built from a bad leadId', () => {
    expect(code(() => contentPath('../etc', v))).toBe('TWIN.INVALID_LEAD_ID');
    expect(code(() => metadataPath('a/b'))).toBe('TWIN.INVALID_LEAD_ID');
  });
});

describe('metadata', () => {
  it('normalises known fields and keeps free extra fields', () => {
    const m = parseMetadata({
      age: 32,
      income: 120000,
      classification: 'hot',
      location: 'Sydney',
      tags: ['Family', 'family', 'term-life'],
      source: 'lms',
      extra: { score: 7 },
    });
    expect(m).toEqual({
      age: 32,
      income: 120000,
      classification: 'hot',
      location: 'Sydney',
      tags: ['family', 'term-life'],
      extra: { source: 'lms', score: 7 },
    });
  });
  it('defaults classification to warm and tags to none', () => {
    expect(parseMetadata(undefined)).toEqual({ classification: 'warm', tags: [], extra: {} });
  });
  it('lists every wrong type at once', () => {
    try {
      parseMetadata({ age: 'old', income: -1, classification: 'boiling', tags: 'x' });
      expect.unreachable();
    } catch (e) {
      const err = e as DomainError;
      expect(err.code).toBe('TWIN.INVALID_METADATA');
      expect(err.details.map((d) => d.path).sort()).toEqual([
        'metadata.age',
        'metadata.classification',
        'metadata.income',
        'metadata.tags',
      ]);
    }
  });
  it('refuses arrays and oversized metadata', () => {
    expect(code(() => parseMetadata([1]))).toBe('TWIN.INVALID_METADATA');
    expect(code(() => parseMetadata({ blob: 'x'.repeat(40_000) }))).toBe('TWIN.INVALID_METADATA');
  });
});

describe('documents', () => {
  it('takes metadata from YAML front matter and keeps the bytes exactly', () => {
    const body = Buffer.from(
      '---\r\nage: 41\r\nclassification: cold\r\ntags: [a, b]\r\n---\r\n# Jo 🙂\r\nline\r\n',
    );
    const doc = documentFromMarkdown(body);
    expect(doc.markdown.equals(body)).toBe(true);
    expect(doc.metadata).toMatchObject({ age: 41, classification: 'cold', tags: ['a', 'b'] });
  });
  it('accepts markdown without front matter', () => {
    expect(documentFromMarkdown(Buffer.from('# just text')).metadata.classification).toBe('warm');
  });
  it('does not turn YAML dates or tags into objects', () => {
    const doc = documentFromMarkdown(Buffer.from('---\nsince: 2024-01-01\n---\nx'));
    expect(doc.metadata.extra).toEqual({ since: '2024-01-01' });
  });
  it('refuses broken front matter, wrong types and invalid UTF-8', () => {
    expect(code(() => documentFromMarkdown(Buffer.from('---\nage: [\n---\nx')))).toBe(
      'TWIN.INVALID_DOCUMENT',
    );
    expect(code(() => documentFromMarkdown(Buffer.from('---\nage: forty\n---\nx')))).toBe(
      'TWIN.INVALID_METADATA',
    );
    expect(code(() => documentFromMarkdown(Buffer.from([0x23, 0xff, 0xfe])))).toBe('TWIN.INVALID_DOCUMENT');
  });
  it('reads the JSON form and refuses unknown fields or a missing markdown', () => {
    const doc = documentFromJson({ markdown: 'héllo\r\n', metadata: { age: 3 } });
    expect(doc.markdown.toString('utf8')).toBe('héllo\r\n');
    expect(code(() => documentFromJson({ markdown: 1 }))).toBe('TWIN.INVALID_DOCUMENT');
    expect(code(() => documentFromJson({ markdown: '', other: 1 }))).toBe('TWIN.INVALID_DOCUMENT');
    expect(code(() => documentFromJson([]))).toBe('TWIN.INVALID_DOCUMENT');
  });
});

describe('classification and tiers', () => {
  it('maps classification to the reference TTLs', () => {
    expect([cacheTtlSeconds('hot'), cacheTtlSeconds('warm'), cacheTtlSeconds('cold')]).toEqual([
      3600, 300, 0,
    ]);
  });
  it('derives the tier from idle days', () => {
    const now = new Date(Date.UTC(2026, 0, 1));
    const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
    expect(deriveTier(daysAgo(29), now)).toBe('hot');
    expect(deriveTier(daysAgo(30), now)).toBe('warm');
    expect(deriveTier(daysAgo(364), now)).toBe('warm');
    expect(deriveTier(daysAgo(365), now)).toBe('cold');
    expect(deriveTier(daysAgo(10), now, { warmAfterDays: 7, coldAfterDays: 9 })).toBe('cold');
  });
});
