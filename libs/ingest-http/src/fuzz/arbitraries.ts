import { METHODS } from 'node:http';
import fc from 'fast-check';
import { markdownTextArb, validLeadIdArb } from './fuzz-harness';

/** Generators of hostile HTTP requests for the ingest API. */

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

/** Every method the HTTP stack knows, weighted towards the ones the API routes. */
export const methodArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE') },
  { weight: 2, arbitrary: fc.constantFrom('HEAD', 'OPTIONS', 'PATCH') },
  { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
);

/** Bytes as percent-escapes; only well-formed UTF-8 (ill-formed escapes have their own property). */
const pctEncodedUtf8 = (s: string) =>
  [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');

/** One path segment: ids, dot segments, encoded slashes and NULs, sub-delims, arbitrary encoded Unicode. */
export const pathSegmentArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: validLeadIdArb },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '.',
      '..',
      '%2E',
      '%2e%2E',
      '%2F',
      '%2f',
      '..%2F..%2Fetc%2Fpasswd',
      '%00',
      'a%00b',
      '%5C',
      '%20',
      '+',
      '~',
      ':',
      '::',
      'twins:batch',
      'twins::batch',
      'batch',
      'metadata',
      'versions',
      ';a=b',
      '*',
      '@',
      "!$&'()*+,;=",
      '%25',
      '%25252F',
      '%C3%A9',
      '%F0%9F%98%80',
      'x'.repeat(129),
      'y'.repeat(512),
      '-leading-dash',
      '_leading_underscore',
      'con',
      'NUL',
      'a.md',
      'index.json',
    ),
  },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map(pctEncodedUtf8) },
  {
    weight: 2,
    // raw characters a client may put in a path unencoded
    arbitrary: fc.string({
      unit: fc.constantFrom(..."abcXYZ019-_.~!$&'()*+,;=:@".split('')),
      maxLength: 30,
    }),
  },
);

const ROUTES = [
  (s: string) => `/v1/twins/${s}`,
  (s: string) => `/v1/twins/${s}/metadata`,
  (s: string) => `/v1/twins/${s}/versions`,
  (s: string) => `/v1/twins/${s}/${s}`,
  () => '/v1/twins:batch',
  () => '/v1/twins/',
  () => '/v1/twins',
  () => '/v1/search',
  (s: string) => `/v1/search/${s}`,
  () => '/healthz',
  () => '/readyz',
  () => '/metrics',
  () => '/docs',
  () => '/docs/openapi.json',
  (s: string) => `/${s}`,
  (s: string) => `/v2/twins/${s}`,
  (s: string) => `//v1//twins//${s}`,
  (s: string) => `/V1/TWINS/${s}`,
];

export const pathArb: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.integer({ min: 0, max: ROUTES.length - 1 }), pathSegmentArb)
      .map(([i, s]) => ROUTES[i](s)),
  },
  {
    weight: 1,
    arbitrary: fc.array(pathSegmentArb, { minLength: 0, maxLength: 6 }).map((segs) => `/${segs.join('/')}`),
  },
);

/** A query string piece: name and value, encoded or raw-ish, with prototype keys and repeated names. */
const queryNameArb = fc.oneof(
  fc.constantFrom(
    'q',
    'classification',
    'minIncome',
    'maxIncome',
    'minAge',
    'maxAge',
    'location',
    'tags',
    'top',
    'skip',
    'facets',
    'minVersion',
    '__proto__',
    'constructor',
    'prototype',
    '__proto__[polluted]',
    'constructor[prototype][polluted]',
    'toString',
    'hasOwnProperty',
    '$filter',
    '$top',
    'search',
    'tags[]',
    'q[]',
    '',
  ),
  fc.string({ unit: 'binary', maxLength: 20 }).map(encodeURIComponent),
);
const queryValueArb = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '-1',
    '1e400',
    '-0',
    'NaN',
    'Infinity',
    '0x10',
    '1.5',
    '101',
    '99999999999999999999999',
    'hot,warm',
    'hot,,cold,',
    'polluted',
    '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 1000 }).map(encodeURIComponent),
  fc.integer().map(String),
  fc.double().map(String),
);
export const queryPairArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(queryNameArb, queryValueArb).map(([n, v]) => `${n}=${v}`) },
  { weight: 1, arbitrary: queryNameArb },
  { weight: 1, arbitrary: fc.constantFrom('=', '&', '==', '=&=', 'a==b', '%26=%3D') },
);
export const queryStringArb: fc.Arbitrary<string> = fc
  .array(queryPairArb, { maxLength: 8 })
  .map((pairs) => pairs.join('&'));

export const urlArb: fc.Arbitrary<string> = fc
  .tuple(pathArb, fc.option(queryStringArb, { nil: undefined }), fc.boolean())
  .map(([path, query, hash]) => `${path}${query === undefined ? '' : `?${query}`}${hash ? '#frag' : ''}`);

/** A header value that can travel on the wire: tab, visible ASCII, obs-text (latin1). */
const wireChar = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
  { weight: 1, arbitrary: fc.constant(0x09) },
);
export const headerValueArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 6, arbitrary: fc.string({ unit: wireChar.map((c) => String.fromCharCode(c)), maxLength: 60 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 * 1024 }).map((n) => 'h'.repeat(n)) },
  )
  .map((v) => v.trim()); // leading/trailing whitespace is not part of a field value

const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
export const headerNameArb: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom(
      'accept',
      'accept-encoding',
      'accept-language',
      'authorization',
      'cookie',
      'content-encoding',
      'content-language',
      'expect',
      'if-none-match',
      'if-match',
      'if-modified-since',
      'range',
      'origin',
      'referer',
      'traceparent',
      'tracestate',
      'user-agent',
      'x-request-id',
      'x-forwarded-for',
      'x-forwarded-host',
      'x-forwarded-proto',
      'x-http-method-override',
      'forwarded',
      'upgrade',
      'connection',
      'te',
      'prefer',
      'accept-version',
    ),
    fc.string({ unit: fc.constantFrom(...TOKEN.split('')), minLength: 1, maxLength: 30 }),
  )
  .filter((n) => !['content-length', 'transfer-encoding', 'content-type', 'host'].includes(n.toLowerCase()));

export const contentTypeArb: fc.Arbitrary<string | undefined> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'application/json',
      'application/json; charset=utf-8',
      'application/json;charset=UTF-8',
      'APPLICATION/JSON',
      'application/json; charset="utf-8"',
      'application/json; charset=utf-16',
      'application/json; charset=iso-8859-1',
      'application/json;;;',
      'application/json; foo',
      'application/json, text/markdown',
      'text/markdown',
      'text/markdown; charset=utf-8',
      'text/markdown; variant=GFM',
      'Text/Markdown; Charset=UTF-8',
      'text/markdown; charset=latin1',
      'text/plain',
      'text/html',
      'application/xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      'application/problem+json',
      'application/merge-patch+json',
      'application/jsonx',
      'text/markdownx',
      '*/*',
      '',
      ';',
      ';;;==',
      'charset=utf-8',
    ),
  },
  { weight: 1, arbitrary: headerValueArb },
  { weight: 2, arbitrary: fc.constant(undefined) },
);

export const headersArb: fc.Arbitrary<Record<string, string>> = fc
  .tuple(
    fc.array(fc.tuple(headerNameArb, headerValueArb), { maxLength: 6 }),
    contentTypeArb,
    fc.option(fc.string({ unit: fc.constantFrom(...'abc.-:0123456789[]'.split('')), maxLength: 40 }), {
      nil: undefined,
    }),
  )
  .map(([pairs, contentType, host]) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of pairs) headers[name.toLowerCase()] = value;
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (host !== undefined) headers.host = host;
    return headers;
  });

/** Object keys an attacker likes: prototype pollution, known fields, unicode, empty. */
export const hostileKeyArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'valueOf',
    'hasOwnProperty',
    '__defineGetter__',
    'markdown',
    'metadata',
    'leadId',
    'items',
    'age',
    'income',
    'classification',
    'location',
    'tags',
    'extra',
    '',
    ' ',
    '$where',
    'a.b',
    '0',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
);

/** A JSON value whose object keys include the hostile ones. Serialised by hand so `__proto__` stays a key. */
const hostileJsonArb: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('null', 'true', 'false', '0', '-0', '1e308', '-1e-308', '12345678901234567890', '""'),
    fc.string({ unit: 'binary', maxLength: 30 }).map((s) => JSON.stringify(s)),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
    fc.array(tie('value'), { maxLength: 4 }).map((a) => `[${a.join(',')}]`),
    fc
      .array(fc.tuple(hostileKeyArb, tie('value')), { maxLength: 5 })
      .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
  ),
})).value;

/** `[[[[...]]]]` or `{"a":{"a":...}}` nested `depth` deep, optionally inside a twin document or a batch. */
export const deepJsonArb: fc.Arbitrary<string> = fc
  .tuple(
    // shallow, around the limits of the recursive parsers and validators (1-5000), and beyond
    fc.oneof(
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 64, max: 5000 }),
      fc.integer({ min: 5000, max: 30_000 }),
    ),
    fc.constantFrom('array', 'object'),
    fc.constantFrom('bare', 'metadata', 'extra', 'batch'),
  )
  .map(([depth, kind, where]) => {
    const nested =
      kind === 'array'
        ? '['.repeat(depth) + ']'.repeat(depth)
        : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    switch (where) {
      case 'bare':
        return nested;
      case 'metadata':
        return `{"markdown":"# deep","metadata":{"deep":${nested}}}`;
      case 'extra':
        return `{"markdown":"# deep","metadata":{"extra":{"deep":${nested}}}}`;
      default:
        return `{"items":[{"leadId":"deep-1","markdown":"# deep","metadata":{"deep":${nested}}}]}`;
    }
  });

/** Twin-document-shaped JSON: the right fields, sometimes the right types, plus hostile extras. */
export const documentJsonArb: fc.Arbitrary<string> = fc
  .record(
    {
      markdown: fc.oneof(
        markdownTextArb.map((s) => JSON.stringify(s)),
        hostileJsonArb,
      ),
      metadata: fc.oneof(metadataJsonArb(), hostileJsonArb),
      extraKey: fc.option(fc.tuple(hostileKeyArb, hostileJsonArb), { nil: undefined }),
    },
    { requiredKeys: [] },
  )
  .map(({ markdown, metadata, extraKey }) => {
    const parts: string[] = [];
    if (markdown !== undefined) parts.push(`"markdown":${markdown}`);
    if (metadata !== undefined) parts.push(`"metadata":${metadata}`);
    if (extraKey !== undefined) parts.push(`${JSON.stringify(extraKey[0])}:${extraKey[1]}`);
    return `{${parts.join(',')}}`;
  });

/** Metadata objects: valid-ish known fields mixed with wrong types and hostile keys. */
export function metadataJsonArb(): fc.Arbitrary<string> {
  const field = fc.oneof(
    fc.integer({ min: -5, max: 200 }).map((n) => ['age', String(n)] as const),
    fc.constantFrom('1.5', '"41"', 'null', '1e999').map((v) => ['age', v] as const),
    fc.double({ min: -1, max: 2e12, noNaN: true }).map((n) => ['income', JSON.stringify(n)] as const),
    fc
      .constantFrom('"hot"', '"warm"', '"cold"', '"HOT"', '"lukewarm"', '1')
      .map((v) => ['classification', v] as const),
    fc.string({ unit: 'binary', maxLength: 210 }).map((s) => ['location', JSON.stringify(s)] as const),
    fc
      .array(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 70 }), fc.constantFrom('vip', 'VIP', 'a/b', ' x ')),
        { maxLength: 55 },
      )
      .map((t) => ['tags', JSON.stringify(t)] as const),
    fc.tuple(hostileKeyArb, hostileJsonArb).map(([k, v]) => [k, v] as const),
    fc.constantFrom(
      ['__proto__', '{"polluted":true}'] as const,
      ['constructor', '{"prototype":{"polluted":true}}'] as const,
      ['extra', '{"__proto__":{"polluted":true}}'] as const,
      ['extra', '[1,2]'] as const,
      ['extra', `{"${'k'.repeat(129)}":1}`] as const,
      ['big', JSON.stringify('b'.repeat(33 * 1024))] as const,
    ),
  );
  return fc
    .array(field, { maxLength: 6 })
    .map((fields) => `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`);
}

/** Batch-shaped JSON: items of every kind, and hostile top-level keys. */
export const batchJsonArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc
          .tuple(fc.oneof(validLeadIdArb, pathSegmentArb), documentJsonArb)
          .map(([id, doc]) => `{"leadId":${JSON.stringify(id)},${doc.slice(1)}`.replace(/,}$/, '}')),
        hostileJsonArb,
      ),
      { maxLength: 8 },
    ),
    fc.option(fc.tuple(hostileKeyArb, hostileJsonArb), { nil: undefined }),
  )
  .map(([items, extra]) => {
    const parts = [`"items":[${items.join(',')}]`];
    if (extra !== undefined) parts.push(`${JSON.stringify(extra[0])}:${extra[1]}`);
    return `{${parts.join(',')}}`;
  });

/** Markdown bodies: text, front matter of every shape, invalid UTF-8, BOMs. */
export const markdownBodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: markdownTextArb.map((s) => Buffer.from(s, 'utf8')) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom('', '\uFEFF', ' ', '\n'),
        fc.constantFrom('---\n', '---\r\n', '--- \n', '---\t\r\n', '----\n', '---'),
        fc.oneof(
          fc.constantFrom(
            'age: 41\nclassification: hot\n',
            'age: old\n',
            'tags: [unclosed\n',
            '42\n',
            '- a\n- b\n',
            '__proto__: {polluted: true}\n',
            'constructor: {prototype: {polluted: true}}\n',
            'a: &a [1,2]\nb: *a\n',
            'x: !!binary aGVsbG8=\n',
            'x: !!js/function "f"\n',
            'age: 0x7fffffffffffffffffff\n',
            'income: .nan\n',
            'income: .inf\n',
            'a: 1\na: 2\n',
            '? [a, b]\n: 1\n',
            '',
            '\n',
            '%YAML 1.2\n',
            '"\\u0000": 1\n',
          ),
          markdownTextArb,
        ),
        fc.constantFrom('---\n', '---\r\n', '---', '--- \n', '...\n', ''),
        markdownTextArb,
      )
      .map((parts) => Buffer.from(parts.join(''), 'utf8')),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        markdownTextArb,
        fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]),
        markdownTextArb,
      )
      .map(([a, bad, b]) =>
        Buffer.concat([Buffer.from(a, 'utf8'), Buffer.from(bad), Buffer.from(b, 'utf8')]),
      ),
  },
);

export const bodyArb: fc.Arbitrary<string | Buffer | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: documentJsonArb },
  { weight: 2, arbitrary: batchJsonArb },
  { weight: 2, arbitrary: markdownBodyArb },
  { weight: 1, arbitrary: deepJsonArb },
  { weight: 1, arbitrary: hostileJsonArb },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '{',
      '{"markdown": "x",',
      'null',
      '"string"',
      '[]',
      '\uFEFF{"markdown":"bom"}',
      '{"markdown":"x"} trailing',
      '{"markdown":"x","markdown":"y"}',
      '{"__proto__":{"polluted":true},"markdown":"x"}',
      '{"markdown":"x","metadata":{"__proto__":{"polluted":true}}}',
      '{"markdown":"x","metadata":{"constructor":{"prototype":{"polluted":true}}}}',
      '{"items":[{"leadId":"p1","markdown":"x","__proto__":{"polluted":true}}]}',
      '{"items":{"length":1000000}}',
      '{"items":[],"__proto__":[]}',
      'NaN',
      '1e999999',
      '{"markdown":"\\ud800"}',
      '{"markdown":"\\u0000"}',
    ),
  },
);

export const requestArb: fc.Arbitrary<FuzzRequest> = fc
  .record({ method: methodArb, url: urlArb, headers: headersArb, payload: bodyArb })
  .map((r) => {
    // a body on GET/HEAD is legal but unusual; keep some
    if (r.payload === undefined) {
      const { payload: _payload, ...rest } = r;
      return rest;
    }
    return r;
  });

/** A few leadIds shared by writes and reads, so reads, deletes and conditional GETs meet existing twins. */
export const POOL_IDS = ['fz-1', 'fz-2', 'FZ_3', '4fz', 'fz-5-' + 'p'.repeat(120)];
export const poolLeadIdArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...POOL_IDS) },
  { weight: 2, arbitrary: validLeadIdArb },
  { weight: 2, arbitrary: pathSegmentArb },
);

const jsonTypeArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  { weight: 1, arbitrary: contentTypeArb },
);
const markdownTypeArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('text/markdown', 'text/markdown; charset=UTF-8') },
  { weight: 1, arbitrary: contentTypeArb },
);
const extraHeadersArb = fc
  .array(fc.tuple(headerNameArb, headerValueArb), { maxLength: 3 })
  .map((pairs) => Object.fromEntries(pairs.map(([n, v]) => [n.toLowerCase(), v])));
const withType = (headers: Record<string, string>, type: string | undefined) =>
  type === undefined ? headers : { ...headers, 'content-type': type };
const versionArb = fc.oneof(
  fc.constantFrom(
    '01ARZ3NDEKTSV4RRFFQ69G5FAV',
    '7ZZZZZZZZZZZZZZZZZZZZZZZZZ',
    '00000000000000000000000000',
    'yesterday',
    '',
  ),
  fc.string({
    unit: fc.constantFrom(...'0123456789ABCDEFGHJKMNPQRSTVWXYZILOU'.split('')),
    minLength: 25,
    maxLength: 27,
  }),
);

/** Requests shaped for a route (right method, mostly the right media type), with hostile contents. */
export const routedRequestArb: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        poolLeadIdArb,
        jsonTypeArb,
        fc.oneof(documentJsonArb, deepJsonArb, hostileJsonArb),
        extraHeadersArb,
      )
      .map(([id, type, payload, headers]) => ({
        method: 'PUT',
        url: `/v1/twins/${id}`,
        headers: withType(headers, type),
        payload,
      })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(poolLeadIdArb, markdownTypeArb, markdownBodyArb, extraHeadersArb)
      .map(([id, type, payload, headers]) => ({
        method: 'PUT',
        url: `/v1/twins/${id}`,
        headers: withType(headers, type),
        payload,
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        jsonTypeArb,
        fc.oneof({ weight: 4, arbitrary: batchJsonArb }, deepJsonArb, hostileJsonArb),
        extraHeadersArb,
      )
      .map(([type, payload, headers]) => ({
        method: 'POST',
        url: '/v1/twins:batch',
        headers: withType(headers, type),
        payload,
      })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        poolLeadIdArb,
        fc.constantFrom('', '/metadata', '/versions'),
        fc.option(versionArb, { nil: undefined }),
        fc.option(fc.oneof(fc.constantFrom('*', 'W/"x"', '"01ARZ3NDEKTSV4RRFFQ69G5FAV"'), headerValueArb), {
          nil: undefined,
        }),
        fc.constantFrom('GET', 'HEAD'),
        extraHeadersArb,
      )
      .map(([id, sub, minVersion, inm, method, headers]) => ({
        method,
        url: `/v1/twins/${id}${sub}${minVersion === undefined ? '' : `?minVersion=${encodeURIComponent(minVersion)}`}`,
        headers: inm === undefined ? headers : { ...headers, 'if-none-match': inm },
      })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(poolLeadIdArb, extraHeadersArb).map(([id, headers]) => ({
      method: 'DELETE',
      url: `/v1/twins/${id}`,
      headers,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(queryStringArb, extraHeadersArb).map(([q, headers]) => ({
      method: 'GET',
      url: `/v1/search?${q}`,
      headers,
    })),
  },
);

/** Anything at all, or shaped for a route: half and half. */
export const anyRequestArb: fc.Arbitrary<FuzzRequest> = fc.oneof(requestArb, routedRequestArb);
