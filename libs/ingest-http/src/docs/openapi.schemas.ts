import { applyDecorators } from '@nestjs/common';
import { ApiResponse, type SchemaObject } from '@nestjs/swagger';
import { CLASSIFICATIONS, LEAD_ID_PATTERN, VERSION_PATTERN } from '@twinstore/domain';
import { FACET_FIELDS, SEARCH_LIMITS } from '@twinstore/application';
import { PROBLEM_TYPE_BASE } from '../http/problem';

/**
 * The schemas of the OpenAPI document, written by hand: the request bodies are parsed by the domain (not by
 * DTO classes), so these describe what the domain accepts, and the spec tests check them against real answers.
 */
export const ref = (name: keyof typeof OPENAPI_SCHEMAS) => ({ $ref: `#/components/schemas/${name}` });

const leadId: SchemaObject = {
  type: 'string',
  pattern: LEAD_ID_PATTERN.source,
  minLength: 1,
  maxLength: 128,
  example: '0b6f3a52-6d0c-4f6e-9b1e-2f1c7a9d4e11',
};
const version: SchemaObject = {
  type: 'string',
  pattern: VERSION_PATTERN.source,
  description: 'ULID; time-ordered; also the ETag',
  example: '01JDQ7Z8X9Y0A1B2C3D4E5F6G7',
};

export const OPENAPI_SCHEMAS: Record<string, SchemaObject> = {
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details (`application/problem+json`)',
    required: ['type', 'title', 'status', 'detail', 'code'],
    properties: {
      type: { type: 'string', format: 'uri', example: `${PROBLEM_TYPE_BASE}twin-not-found` },
      title: { type: 'string' },
      status: { type: 'integer' },
      detail: { type: 'string' },
      instance: { type: 'string' },
      code: { type: 'string', example: 'TWIN.NOT_FOUND' },
      errors: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'message'],
          properties: { path: { type: 'string' }, message: { type: 'string' } },
        },
      },
      correlationId: { type: 'string', description: 'request id (5xx only)' },
    },
  },
  TwinMetadata: {
    type: 'object',
    description:
      'Known fields are typed; any other top-level field is kept as a free extra field (under `extra`).',
    additionalProperties: true,
    properties: {
      age: { type: 'integer', minimum: 0, maximum: 150 },
      income: { type: 'number', minimum: 0 },
      classification: { type: 'string', enum: [...CLASSIFICATIONS], default: 'warm' },
      location: { type: 'string', minLength: 1, maxLength: 200 },
      tags: { type: 'array', maxItems: 50, items: { type: 'string', maxLength: 64 } },
      extra: { type: 'object', additionalProperties: true },
    },
  },
  TwinJsonBody: {
    type: 'object',
    required: ['markdown'],
    additionalProperties: false,
    properties: {
      markdown: { type: 'string', description: 'stored as UTF-8 bytes' },
      metadata: ref('TwinMetadata'),
    },
  },
  SaveAccepted: {
    type: 'object',
    required: ['leadId', 'version', 'status'],
    properties: { leadId, version, status: { type: 'string', enum: ['accepted'] } },
  },
  DeleteAccepted: {
    type: 'object',
    required: ['leadId', 'version', 'status'],
    properties: { leadId, version, status: { type: 'string', enum: ['deleted'] } },
  },
  TwinRecord: {
    type: 'object',
    required: ['leadId', 'version', 'blobPath', 'contentHash', 'size', 'savedAt', 'metadata'],
    properties: {
      leadId,
      version,
      blobPath: { type: 'string' },
      contentHash: { type: 'string', description: 'sha256 of the stored bytes, hex' },
      size: { type: 'integer' },
      savedAt: { type: 'string', format: 'date-time' },
      metadata: ref('TwinMetadata'),
    },
  },
  TwinVersions: {
    type: 'object',
    required: ['leadId', 'versions'],
    properties: {
      leadId,
      versions: {
        type: 'array',
        description: 'newest first; one entry per day-blob',
        items: {
          type: 'object',
          properties: {
            version,
            blobPath: { type: 'string' },
            savedAt: { type: 'string', format: 'date-time' },
            size: { type: 'integer' },
          },
        },
      },
    },
  },
  BatchRequest: {
    type: 'object',
    required: ['items'],
    additionalProperties: false,
    properties: {
      items: {
        type: 'array',
        items: {
          type: 'object',
          required: ['leadId', 'markdown'],
          additionalProperties: false,
          properties: { leadId, markdown: { type: 'string' }, metadata: ref('TwinMetadata') },
        },
      },
    },
  },
  BatchResponse: {
    type: 'object',
    required: ['results'],
    properties: {
      results: {
        type: 'array',
        description: 'one per item, in request order',
        items: {
          type: 'object',
          required: ['index', 'leadId', 'status'],
          properties: {
            index: { type: 'integer' },
            leadId: { type: 'string', nullable: true },
            status: { type: 'integer', enum: [202, 400, 413, 500] },
            version,
            problem: ref('Problem'),
          },
        },
      },
    },
  },
  SearchResult: {
    type: 'object',
    required: ['total', 'hits', 'facets'],
    properties: {
      total: { type: 'integer' },
      totalIsEstimate: {
        type: 'boolean',
        description:
          'true when the match set was too large to count exactly: total and facet counts are then estimates and the hits are ranked within a sample of the newest matches; absent: exact',
      },
      hits: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            leadId,
            version,
            score: { type: 'number' },
            highlights: { type: 'array', items: { type: 'string' } },
            classification: { type: 'string', enum: [...CLASSIFICATIONS] },
            age: { type: 'integer' },
            income: { type: 'number' },
            location: { type: 'string' },
            tags: { type: 'array', items: { type: 'string' } },
          },
        },
      },
      facets: {
        type: 'object',
        additionalProperties: {
          type: 'array',
          items: {
            type: 'object',
            properties: { value: { type: 'string' }, count: { type: 'integer' } },
          },
        },
      },
    },
  },
  Health: {
    type: 'object',
    properties: { status: { type: 'string', enum: ['ok'] } },
  },
  Readiness: {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['ok'] },
      checks: {
        type: 'array',
        items: {
          type: 'object',
          properties: { name: { type: 'string' }, ok: { type: 'boolean' }, detail: { type: 'string' } },
        },
      },
    },
  },
};

export const SEARCH_QUERY_DOC: { name: string; description: string; schema: SchemaObject }[] = [
  {
    name: 'q',
    description:
      'free text; every term must match; a part in double quotes is a phrase (its words adjacent, in order)',
    schema: { type: 'string', maxLength: SEARCH_LIMITS.maxQueryLength },
  },
  {
    name: 'classification',
    description: 'comma-separated: hot, warm, cold',
    schema: { type: 'string' },
  },
  { name: 'minIncome', description: 'inclusive', schema: { type: 'number', minimum: 0 } },
  { name: 'maxIncome', description: 'inclusive', schema: { type: 'number', minimum: 0 } },
  { name: 'minAge', description: 'inclusive', schema: { type: 'integer', minimum: 0, maximum: 150 } },
  { name: 'maxAge', description: 'inclusive', schema: { type: 'integer', minimum: 0, maximum: 150 } },
  { name: 'location', description: 'exact, case-insensitive', schema: { type: 'string', maxLength: 200 } },
  { name: 'tags', description: 'comma-separated; every tag must be present', schema: { type: 'string' } },
  {
    name: 'top',
    description: 'page size',
    schema: { type: 'integer', minimum: 1, maximum: SEARCH_LIMITS.maxTop, default: 20 },
  },
  {
    name: 'skip',
    description: 'offset',
    schema: { type: 'integer', minimum: 0, maximum: SEARCH_LIMITS.maxSkip, default: 0 },
  },
  {
    name: 'facets',
    description: `comma-separated: ${FACET_FIELDS.join(', ')}`,
    schema: { type: 'string' },
  },
];

export const LEAD_ID_PARAM = {
  name: 'leadId',
  description: '1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit',
  schema: leadId,
};

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'invalid input (problem+json, `errors` lists each field)',
  404: 'not found',
  405: 'method not allowed',
  412: 'version conflict',
  413: 'body or batch too large',
  415: 'unsupported media type',
  500: 'internal error (with `correlationId`)',
  503: 'a dependency is unavailable',
};

/** `application/problem+json` responses for the given statuses. */
export function ApiProblems(...statuses: number[]) {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: PROBLEM_DESCRIPTIONS[status] ?? 'problem',
        content: { 'application/problem+json': { schema: ref('Problem') } },
      }),
    ),
  );
}

/** A JSON response with a component schema. */
export function ApiJson(status: number, description: string, schema: keyof typeof OPENAPI_SCHEMAS) {
  return ApiResponse({ status, description, content: { 'application/json': { schema: ref(schema) } } });
}
