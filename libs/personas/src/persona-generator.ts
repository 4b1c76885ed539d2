import type { Classification } from '@twinstore/domain';
import { Random } from './prng';
import {
  ADJECTIVES,
  ADVISERS,
  CARS,
  CHILDREN,
  DETAIL_TEMPLATES,
  EMPLOYER_PREFIXES,
  EMPLOYER_SUFFIXES,
  HEALTH_NOTES,
  AU_CITIES,
  AU_SUBURBS,
  CHANNELS,
  EMOJI,
  FIRST_NAMES,
  GOALS,
  HOBBIES,
  HOUSING,
  INTERACTION_TOPICS,
  LAST_NAMES,
  LEAD_SOURCES,
  NON_LATIN_NAMES,
  NOTE_SENTENCES,
  OBJECTIONS,
  OCCUPATIONS,
  OTHER_HOUSEHOLD,
  OVERSEAS_CITIES,
  PARTNERS,
  PRODUCT_TAGS,
  PRODUCTS,
  PROFILE_TAGS,
  STATE_OF,
} from './vocabulary';

export interface PersonaMetadata {
  age: number;
  income: number;
  classification: Classification;
  location: string;
  tags: string[];
  extra: Record<string, string | number | boolean>;
}

export interface Persona {
  leadId: string;
  markdown: string;
  metadata: PersonaMetadata;
}

export interface PersonaOptions {
  /** Smallest markdown size in UTF-8 bytes (default 2 KiB). */
  minBytes?: number;
  /** Largest markdown size in UTF-8 bytes (default 40 KiB). */
  maxBytes?: number;
}

export const PERSONA_MIN_BYTES = 2 * 1024;
export const PERSONA_MAX_BYTES = 40 * 1024;

/** Shares of the tricky-but-valid variants; each is independent, so a few personas combine several. */
const QUIRKS = { crlf: 0.03, emoji: 0.05, nonLatinName: 0.04, table: 0.08, codeFence: 0.04 } as const;
const CLASSIFICATION_SHARES: readonly (readonly [Classification, number])[] = [
  ['hot', 0.2],
  ['warm', 0.5],
  ['cold', 0.3],
];
const DAY_MS = 86_400_000;
// Fixed anchor so personas never depend on the wall clock: "now" for every generated lead is mid-2025.
const ANCHOR_MS = Date.UTC(2025, 5, 30);

/**
 * A synthetic sales-lead persona, fully determined by `seed`. Sizes follow a log-normal around 8.5 KB
 * (most 6-12 KB) with a long tail up to `maxBytes`, the way notes pile up on a few long-running leads.
 */
export function generatePersona(seed: number, options: PersonaOptions = {}): Persona {
  const minBytes = options.minBytes ?? PERSONA_MIN_BYTES;
  const maxBytes = options.maxBytes ?? PERSONA_MAX_BYTES;
  if (!(minBytes >= 0 && maxBytes >= 1024 && minBytes <= maxBytes)) {
    throw new RangeError(`persona size bounds are invalid: minBytes=${minBytes}, maxBytes=${maxBytes}`);
  }
  const r = new Random(seed);
  const quirks = {
    crlf: r.chance(QUIRKS.crlf),
    emoji: r.chance(QUIRKS.emoji),
    nonLatinName: r.chance(QUIRKS.nonLatinName),
    table: r.chance(QUIRKS.table),
    codeFence: r.chance(QUIRKS.codeFence),
  };

  const leadId = uuid(r);
  const classification = r.weighted(CLASSIFICATION_SHARES);
  const age = ageBetween(r, 18, 85);
  const [occupation, occupationMedian] =
    age >= 67 && r.chance(0.7) ? (['retiree', 38_000] as const) : r.zipf(OCCUPATIONS);
  const income = clamp(Math.round(r.logNormal(occupationMedian, 0.35) / 500) * 500, 20_000, 400_000);
  const { location, region } = pickLocation(r);
  const name = quirks.nonLatinName ? r.pick(NON_LATIN_NAMES) : `${r.zipf(FIRST_NAMES)} ${r.zipf(LAST_NAMES)}`;
  const firstName = name.split(' ')[0];
  const adviser = r.pick(ADVISERS);
  const source = r.zipf(LEAD_SOURCES);
  const score =
    classification === 'hot' ? r.int(70, 99) : classification === 'warm' ? r.int(35, 75) : r.int(1, 40);
  const smoker = r.chance(0.12);
  const products = r.sample(PRODUCTS, r.int(1, 4));
  const { members, kids } = household(r, age);
  const hobbies = r.sample(HOBBIES, r.int(1, 4));
  const tags = pickTags(r, { age, income, kids, products, smoker });
  const target = clamp(Math.round(sizeTarget(r)), minBytes, maxBytes);
  const lastContactMs =
    ANCHOR_MS -
    DAY_MS *
      (classification === 'hot' ? r.int(0, 14) : classification === 'warm' ? r.int(10, 120) : r.int(90, 700));

  const mood = () => (quirks.emoji && r.chance(0.35) ? ` ${r.pick(EMOJI)}` : '');
  const product = () => r.pick(products);

  const head: string[] = [
    `# ${name}${quirks.emoji ? ` ${r.pick(EMOJI)}` : ''}`,
    '',
    `> ${capitalise(r.pick(ADJECTIVES))}, ${age}-year-old ${occupation} from ${region}; ${classification} lead for ${products.join(', ')}.`,
    '',
    '## Summary',
    '',
    `- **Lead ID:** \`${leadId}\``,
    `- **Classification:** ${capitalise(classification)} (lead score ${score}/100)`,
    `- **Age:** ${age}`,
    `- **Location:** ${region}`,
    `- **Occupation:** ${occupation}`,
    `- **Adviser:** ${adviser}`,
    `- **Source:** ${source}`,
    '',
    `${firstName} is a ${r.pick(ADJECTIVES)} and ${r.pick(ADJECTIVES)} ${occupation} who first enquired about ${products[0]} via ${source.replace(/-/g, ' ')}. ` +
      `${capitalise(pronoun(r))} main concern is to ${r.zipf(GOALS)}.${mood()}`,
    '',
    '## Household',
    '',
    `- ${capitalise(r.pick(HOUSING))} in ${region}.`,
    members.length > 0 ? `- Lives with ${members.join(', ')}.` : '- Lives alone.',
    `- Enjoys ${hobbies.join(', ')}.`,
    `- ${smoker ? 'Smoker (about ten a day; has tried to quit twice).' : 'Non-smoker.'}`,
    '',
    '## Finances',
    '',
    `- Annual income: $${money(income)} before tax${income > 180_000 ? ' (top marginal tax rate)' : ''}.`,
    `- Super balance: about $${money(Math.round((income * (age - 18) * r.next() * 0.3) / 1000) * 1000)}.`,
    `- ${r.chance(0.55) ? `Mortgage of $${money(r.int(150, 1200) * 1000)} at ${(5 + r.next() * 2).toFixed(2)}% variable.` : 'No mortgage.'}`,
    `- Existing cover: ${r.chance(0.6) ? 'default life and TPD inside super only' : 'none that they know of'}.`,
    `- Monthly budget for premiums: $${r.int(4, 60) * 10}.`,
  ];
  if (quirks.table) head.push('', ...coverTable(r, products, income));
  head.push('', '## Goals', '');
  r.sample(GOALS, r.int(2, 5)).forEach((g, i) => head.push(`${i + 1}. ${capitalise(g)}.`));
  head.push('', '## Objections', '');
  for (const o of r.sample(OBJECTIONS, r.int(1, 4))) head.push(`- ${capitalise(o)}.${mood()}`);
  head.push('', '## Interaction history', '');

  const channels = r.sample(CHANNELS, r.int(1, 3));
  const tail: string[] = [
    '',
    '## Preferred channels',
    '',
    ...channels.map((c, i) => `- ${capitalise(c)}${i === 0 ? ' (preferred)' : ''}`),
    `- Best time: ${r.pick(['mornings', 'lunchtime', 'after 5pm', 'weekends', 'any time'])} (their local time)`,
    '',
    '## Notes',
    '',
  ];
  if (quirks.codeFence) tail.push(...webhookFence(r, leadId, source), '');

  // Interactions carry most of the size; notes top it up so the total lands close to the target.
  const eol = quirks.crlf ? 2 : 1;
  const lineBytes = (lines: string[]) => lines.reduce((n, l) => n + Buffer.byteLength(l) + eol, 0);
  let size = lineBytes(head) + lineBytes(tail);
  const entries: string[] = [];
  do {
    const entry = interaction(r, product, channels, hobbies, mood);
    entries.push(entry);
    size += Buffer.byteLength(entry) + 13 + eol; // "- YYYY-MM-DD " prefix
  } while (size < target * 0.85);
  const notes: string[] = [];
  while (size < target) {
    const note = (r.chance(0.4) ? detail(r, hobbies) : r.zipf(NOTE_SENTENCES)) + mood();
    notes.push(note);
    size += Buffer.byteLength(note) + 2 * eol;
  }

  // Gaps between contacts, newest first: dropping the oldest entries below keeps every other date.
  const gapsDays = entries.map(() => r.int(1, 14));
  const render = () =>
    assemble(head, datedEntries(entries, gapsDays, lastContactMs), tail, notes, quirks.crlf);
  let markdown = render();
  // Per-line accounting is approximate; fix the bounds exactly on the final bytes.
  while (Buffer.byteLength(markdown) > maxBytes && (entries.length > 1 || notes.length > 0)) {
    if (notes.length > 0) notes.pop();
    else entries.shift();
    markdown = render();
  }
  for (let missing = minBytes - Buffer.byteLength(markdown); missing > 0;) {
    // Top up a whole deficit per render, so a large minBytes does not re-render once per sentence.
    while (missing > 0) {
      const note = r.pick(NOTE_SENTENCES);
      notes.push(note);
      missing -= Buffer.byteLength(note) + 2 * eol;
    }
    markdown = render();
    missing = minBytes - Buffer.byteLength(markdown);
  }
  if (Buffer.byteLength(markdown) > maxBytes) markdown = truncateUtf8(markdown, maxBytes);

  return {
    leadId,
    markdown,
    metadata: {
      age,
      income,
      classification,
      location,
      tags,
      extra: {
        source,
        adviser,
        leadScore: score,
        smoker,
        lastContact: isoDay(lastContactMs),
      },
    },
  };
}

/** `count` personas from consecutive seeds, generated lazily so a large load never holds them all. */
export function* generatePersonas(
  count: number,
  startSeed = 1,
  options: PersonaOptions = {},
): Generator<Persona> {
  for (let i = 0; i < count; i++) yield generatePersona(startSeed + i, options);
}

/** Working-age heavy, like the leads of an insurer; redrawn rather than clamped so 18 and 85 do not pile up. */
function ageBetween(r: Random, min: number, max: number): number {
  for (let i = 0; i < 20; i++) {
    const age = Math.round(r.normal(44, 14));
    if (age >= min && age <= max) return age;
  }
  return r.int(min, max);
}

function uuid(r: Random): string {
  const h = r.hex(32).split('');
  h[12] = '4';
  h[16] = '89ab'[r.int(0, 3)];
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** Who the lead lives with, plausible for their age: young children in their 30s, adult ones in their 60s. */
function household(r: Random, age: number): { members: string[]; kids: boolean } {
  const members: string[] = [];
  if (r.chance(age < 25 ? 0.25 : 0.65)) members.push(r.pick(PARTNERS));
  const band = age < 40 ? 'young' : age < 55 ? 'middle' : 'older';
  const kidsChance = age < 25 ? 0.08 : age < 30 ? 0.3 : age < 55 ? 0.6 : 0.45;
  const kids = r.chance(kidsChance);
  if (kids) members.push(r.zipf(CHILDREN[band]));
  if (r.chance(0.35)) members.push(r.zipf(OTHER_HOUSEHOLD));
  return { members, kids };
}

/** A sentence with rare, specific terms (employers, cars, health notes): the long tail of a real corpus. */
function detail(r: Random, hobbies: string[]): string {
  return r
    .zipf(DETAIL_TEMPLATES)
    .replace('{employer}', () => `${r.pick(EMPLOYER_PREFIXES)} ${r.pick(EMPLOYER_SUFFIXES)}`)
    .replace('{years}', () => String(r.int(1, 25)))
    .replace('{car}', () => r.zipf(CARS))
    .replace('{health}', () => r.zipf(HEALTH_NOTES))
    .replace('{hobby}', () => r.pick(hobbies));
}

function pickLocation(r: Random): { location: string; region: string } {
  const roll = r.next();
  if (roll < 0.1) {
    const city = r.pick(OVERSEAS_CITIES);
    return { location: city, region: city };
  }
  const place = roll < 0.22 ? r.pick(AU_SUBURBS) : r.weighted(AU_CITIES);
  return { location: place, region: `${place}, ${STATE_OF[place] ?? 'AU'}` };
}

function sizeTarget(r: Random): number {
  // 6% of leads are long-running with a lot of history: a much wider spread gives the 20-40 KB tail.
  return r.chance(0.06) ? r.logNormal(16_000, 0.6) : r.logNormal(8_700, 0.3);
}

function pickTags(
  r: Random,
  p: { age: number; income: number; kids: boolean; products: string[]; smoker: boolean },
): string[] {
  const tags = new Set<string>();
  for (const product of p.products) {
    const tag = product
      .toLowerCase()
      .replace(/ cover$/, '')
      .replace(/ and /g, '-')
      .replace(/ /g, '-');
    if ((PRODUCT_TAGS as readonly string[]).includes(tag)) tags.add(tag);
  }
  if (p.age >= 65) tags.add('retiree');
  else if (p.age >= 55) tags.add('pre-retiree');
  if (p.income > 180_000) tags.add('high-income');
  if (p.kids) tags.add(p.age < 40 ? 'young-family' : 'family');
  if (p.smoker) tags.add('smoker');
  else if (r.chance(0.3)) tags.add('non-smoker');
  if (tags.size === 0 || r.chance(0.6)) tags.add(r.zipf(PROFILE_TAGS));
  const extra = r.int(0, 2);
  for (let i = 0; i < extra; i++) tags.add(r.zipf(PROFILE_TAGS));
  return [...tags].slice(0, 6);
}

function interaction(
  r: Random,
  product: () => string,
  channels: string[],
  hobbies: string[],
  mood: () => string,
): string {
  const channel = r.chance(0.7) ? r.pick(channels) : r.pick(CHANNELS);
  const minutes = channel.includes('call') || channel.includes('meeting') ? ` (${r.int(2, 55)} min)` : '';
  let text = `— ${capitalise(channel)}${minutes}: ${r.zipf(INTERACTION_TOPICS).replace('{product}', product())}.`;
  if (r.chance(0.3)) text += ` ${r.zipf(NOTE_SENTENCES)}`;
  if (r.chance(0.25)) text += ` ${detail(r, hobbies)}`;
  if (r.chance(0.2))
    text += ` Next step: ${r.pick(['send revised quote', 'book meeting', 'chase documents', 'wait for partner', 'close file'])}.`;
  return text + mood();
}

/** Dates walk backwards from the last contact, so the newest entry is last and the history reads in order. */
function datedEntries(entries: string[], gapsDays: number[], lastContactMs: number): string[] {
  const out = new Array<string>(entries.length);
  let t = lastContactMs;
  for (let i = entries.length - 1, k = 0; i >= 0; i--, k++) {
    out[i] = `- ${isoDay(t)} ${entries[i]}`;
    t -= DAY_MS * gapsDays[k];
  }
  return out;
}

function coverTable(r: Random, products: string[], income: number): string[] {
  const rows = products.map(
    (p) =>
      `| ${p} | ${r.pick(['Acme Life', 'Harbour Mutual', 'Southern Cross Assure', 'Koala Life', 'Banksia Super'])} | $${money(Math.round((income * r.int(2, 12)) / 1000) * 1000)} | $${money(r.int(15, 400))} |`,
  );
  return ['| Product | Provider | Sum insured | Monthly premium |', '|---|---|--:|--:|', ...rows];
}

function webhookFence(r: Random, leadId: string, source: string): string[] {
  return [
    'Raw LMS webhook payload kept for troubleshooting:',
    '',
    '```json',
    '{',
    `  "leadId": "${leadId}",`,
    `  "source": "${source}",`,
    `  "utm": { "campaign": "${r.pick(['eofy', 'spring', 'brand', 'retarget'])}", "medium": "cpc" },`,
    '  "consent": { "marketing": true, "privacyVersion": "2024-07" }',
    '}',
    '```',
  ];
}

function assemble(head: string[], entries: string[], tail: string[], notes: string[], crlf: boolean): string {
  const notesBlock = notes.length > 0 ? notes.join('\n\n') : 'No further notes.';
  const text = `${head.join('\n')}\n${entries.join('\n')}\n${tail.join('\n')}\n${notesBlock}\n`;
  return crlf ? text.replace(/\n/g, '\r\n') : text;
}

/** Cuts at a character boundary (never inside a UTF-8 sequence or a surrogate pair). */
function truncateUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  let end = maxBytes;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));
const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const pronoun = (r: Random) => r.pick(['their', 'her', 'his']);
// Dates are whole days from a fixed anchor, so a few thousand distinct strings cover every persona; formatting
// each one through Date was the generator's single largest cost.
const isoDays = new Map<number, string>();
const isoDay = (ms: number) => {
  let day = isoDays.get(ms);
  if (day === undefined) isoDays.set(ms, (day = new Date(ms).toISOString().slice(0, 10)));
  return day;
};
const money = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
