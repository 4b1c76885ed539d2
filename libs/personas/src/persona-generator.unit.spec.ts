import { describe, expect, it } from 'vitest';
import { documentFromJson, parseLeadId, parseMetadata } from '@twinstore/domain';
import {
  generatePersona,
  generatePersonas,
  Persona,
  PERSONA_MAX_BYTES,
  PERSONA_MIN_BYTES,
} from './persona-generator';
import { Random } from './prng';
import { AU_CITIES, AU_SUBURBS } from './vocabulary';

const SAMPLE = 1000;
const personas: Persona[] = [...generatePersonas(SAMPLE)];
const sizes = personas.map((p) => Buffer.byteLength(p.markdown)).sort((a, b) => a - b);
const share = (pred: (p: Persona) => boolean) => personas.filter(pred).length / SAMPLE;

describe('generatePersona', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(generatePersona(42)).toEqual(generatePersona(42));
    expect(generatePersona(42).leadId).not.toBe(generatePersona(43).leadId);
    expect(new Set(personas.map((p) => p.leadId)).size).toBe(SAMPLE);
  });

  it('yields consecutive seeds from generatePersonas', () => {
    const three = [...generatePersonas(3, 10)];
    expect(three).toEqual([generatePersona(10), generatePersona(11), generatePersona(12)]);
  });

  it('produces leadIds and metadata the domain accepts unchanged', () => {
    for (const p of personas) {
      expect(parseLeadId(p.leadId)).toBe(p.leadId);
      expect(p.leadId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(parseMetadata(p.metadata)).toEqual(p.metadata);
      const doc = documentFromJson(
        JSON.parse(JSON.stringify({ markdown: p.markdown, metadata: p.metadata })),
      );
      expect(doc.markdown.equals(Buffer.from(p.markdown, 'utf8'))).toBe(true);
    }
  });

  it('keeps metadata in the documented ranges and the markdown consistent with it', () => {
    for (const p of personas) {
      const m = p.metadata;
      expect(m.age).toBeGreaterThanOrEqual(18);
      expect(m.age).toBeLessThanOrEqual(85);
      expect(m.income).toBeGreaterThanOrEqual(20_000);
      expect(m.income).toBeLessThanOrEqual(400_000);
      expect(m.tags.length).toBeGreaterThanOrEqual(1);
      expect(m.tags.length).toBeLessThanOrEqual(6);
      const text = p.markdown.replace(/\r\n/g, '\n');
      expect(text).toContain(`**Age:** ${m.age}`);
      expect(text).toContain(`**Location:** ${m.location}`);
      expect(text).toContain(p.leadId);
      for (const section of [
        'Summary',
        'Household',
        'Finances',
        'Goals',
        'Objections',
        'Interaction history',
        'Preferred channels',
        'Notes',
      ]) {
        expect(text).toContain(`\n## ${section}\n`);
      }
      expect(text).toMatch(/\n- \d{4}-\d{2}-\d{2} — /);
    }
  });

  it('mixes classifications about 20% hot, 50% warm, 30% cold', () => {
    expect(Math.abs(share((p) => p.metadata.classification === 'hot') - 0.2)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(share((p) => p.metadata.classification === 'warm') - 0.5)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(share((p) => p.metadata.classification === 'cold') - 0.3)).toBeLessThanOrEqual(0.05);
  });

  it('sizes stay within 2-40 KB, most around 6-12 KB, with a tail of large ones', () => {
    expect(sizes[0]).toBeGreaterThanOrEqual(PERSONA_MIN_BYTES);
    expect(sizes[sizes.length - 1]).toBeLessThanOrEqual(PERSONA_MAX_BYTES);
    const median = sizes[SAMPLE / 2];
    expect(median).toBeGreaterThanOrEqual(6 * 1024);
    expect(median).toBeLessThanOrEqual(12 * 1024);
    expect(sizes.filter((s) => s >= 6 * 1024 && s <= 12 * 1024).length / SAMPLE).toBeGreaterThan(0.6);
    expect(sizes.filter((s) => s > 20 * 1024).length).toBeGreaterThan(0);
  });

  it('is mostly Australian, with many distinct locations and some overseas', () => {
    const australian = new Set<string>([...AU_CITIES.map(([c]) => c), ...AU_SUBURBS]);
    const locations = new Set(personas.map((p) => p.metadata.location));
    expect(locations.size).toBeGreaterThanOrEqual(10);
    const auShare = share((p) => australian.has(p.metadata.location));
    expect(auShare).toBeGreaterThan(0.8);
    expect(auShare).toBeLessThan(1);
    expect(locations).toContain('Sydney');
    expect(locations).toContain('Melbourne');
  });

  it('spreads ages and incomes with a right skew on income', () => {
    const incomes = personas.map((p) => p.metadata.income).sort((a, b) => a - b);
    const mean = incomes.reduce((a, b) => a + b, 0) / SAMPLE;
    expect(mean).toBeGreaterThan(incomes[SAMPLE / 2]);
    expect(new Set(personas.map((p) => p.metadata.age)).size).toBeGreaterThan(50);
  });

  it('includes tricky-but-valid content in a small share', () => {
    const crlf = share((p) => p.markdown.includes('\r\n'));
    const emoji = share((p) => /\p{Extended_Pictographic}/u.test(p.markdown));
    const nonLatin = share((p) =>
      /[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0900-\u097f\u0e00-\u0e7f\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]/.test(
        p.markdown,
      ),
    );
    const table = share((p) => /\n\| Product \| Provider/.test(p.markdown));
    const fence = share((p) => p.markdown.includes('```json'));
    for (const s of [crlf, emoji, nonLatin, table, fence]) {
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThan(0.15);
    }
    // CRLF documents are CRLF throughout: no bare LF that would make a mixed-ending file.
    for (const p of personas.filter((q) => q.markdown.includes('\r\n')))
      expect(p.markdown).not.toMatch(/[^\r]\n/);
  });

  it('draws from a sizeable vocabulary', () => {
    const words = new Set<string>();
    for (const p of personas.slice(0, 200))
      for (const w of p.markdown.toLowerCase().match(/\p{L}{3,}/gu) ?? []) words.add(w);
    expect(words.size).toBeGreaterThan(800);
  });

  it('honours custom size bounds and rejects impossible ones', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const size = Buffer.byteLength(generatePersona(seed, { minBytes: 20_000, maxBytes: 22_000 }).markdown);
      expect(size).toBeGreaterThanOrEqual(20_000);
      expect(size).toBeLessThanOrEqual(22_000);
      expect(
        Buffer.byteLength(generatePersona(seed, { minBytes: 0, maxBytes: 1500 }).markdown),
      ).toBeLessThanOrEqual(1500);
    }
    const big = Buffer.byteLength(generatePersona(1, { minBytes: 200_000, maxBytes: 250_000 }).markdown);
    expect(big).toBeGreaterThanOrEqual(200_000);
    expect(big).toBeLessThanOrEqual(250_000);
    expect(() => generatePersona(1, { minBytes: 5000, maxBytes: 4000 })).toThrow(RangeError);
  });
});

describe('Random', () => {
  it('is reproducible and uniform enough for the generator', () => {
    const a = new Random(7);
    const b = new Random(7);
    const xs = Array.from({ length: 10_000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 10_000 }, () => b.next()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.02);
  });

  it('makes zipf picks favour the head of a list', () => {
    const r = new Random(3);
    const counts = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[r.zipf([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])]++;
    expect(counts[0]).toBeGreaterThan(counts[1]);
    expect(counts[1]).toBeGreaterThan(counts[9]);
    expect(counts[9]).toBeGreaterThan(0);
  });
});
