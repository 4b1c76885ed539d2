import { Controller, Delete, Get, HttpCode, Inject, Param, Put, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TwinColdError } from '@twinstore/application';
import { parseLeadId, VERSION_PATTERN } from '@twinstore/domain';
import type { TwinsRuntime } from '@twinstore/platform';
import { ApiJson, ApiProblems, LEAD_ID_PARAM, ref } from '../docs/openapi.schemas';
import { etagOf, ifNoneMatchHits, singleQueryValue, traceparentOf } from '../http/request-context';
import { TWINS_RUNTIME } from '../ingest-api.tokens';
import { describeError } from '../http/describe-error';
import { asPreconditionProblem, idempotencyKeyOf, ifMatchOf, replyIdempotently } from './idempotency.http';
import { documentFromRequest } from './twin-document';
import {
  REHYDRATION_JOB_SCHEMA,
  REHYDRATION_RETRY_AFTER_S,
  rehydrationJobBody,
  rehydrationJobUrl,
} from './rehydration.controller';
import { principalOf } from '../http/auth';

const MARKDOWN_RESPONSE_TYPE = 'text/markdown; charset=utf-8';
export const IDEMPOTENCY_KEY_DOC =
  'up to 255 printable ASCII characters; a retry with the same key and request gets the first answer ' +
  '(`Idempotent-Replayed: true`) for 24 h, the same key with another request a 422, the same request while ' +
  'the first still runs a 409 with Retry-After';
const VERSION_HEADERS = {
  ETag: { description: 'the version, quoted', schema: { type: 'string' } },
  'X-Twin-Version': { description: 'the version', schema: { type: 'string' } },
};

/**
 * One twin: write (PUT), read (GET markdown, metadata, versions), erase (DELETE). The leadId is validated here,
 * before any use case runs, so a bad id can never reach a store.
 */
@ApiTags('twins')
@Controller('v1/twins')
export class TwinsController {
  constructor(@Inject(TWINS_RUNTIME) private readonly runtime: TwinsRuntime) {}

  @Put(':leadId')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'saveTwin',
    summary: 'Save a new version of a twin',
    description:
      'The version is written to the blob store (the source of truth) before the answer; projections ' +
      'follow through events. `text/markdown` bodies are stored byte for byte, their YAML front matter ' +
      'being the metadata.',
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: ref('TwinJsonBody') },
        'text/markdown': { schema: { type: 'string', description: 'markdown, optional YAML front matter' } },
      },
    },
  })
  @ApiParam(LEAD_ID_PARAM)
  @ApiHeader({ name: 'traceparent', required: false, description: 'W3C trace context, carried to events' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: IDEMPOTENCY_KEY_DOC })
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description:
      'save only if the twin is at this version (its ETag, quoted), or exists at all (`*`); 412 otherwise',
  })
  @ApiResponse({
    status: 202,
    description: 'accepted: stored, event published',
    content: { 'application/json': { schema: ref('SaveAccepted') } },
    headers: {
      ETag: VERSION_HEADERS.ETag,
      Location: { description: 'read-your-writes URL', schema: { type: 'string' } },
    },
  })
  @ApiProblems(400, 409, 412, 413, 415, 422, 500)
  async save(@Param('leadId') rawLeadId: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    // Everything the request can be refused for is checked before the key is claimed or anything written.
    const leadId = parseLeadId(rawLeadId);
    const document = documentFromRequest(req);
    const ifMatch = ifMatchOf(req);
    const key = idempotencyKeyOf(req);
    const idempotency = {
      store: this.runtime.idempotency,
      scope: `PUT /v1/twins/${leadId}`,
      key,
      onStoreError: (e: unknown) =>
        this.runtime.logger.error({ reqId: req.id, err: describeError(e) }, 'idempotency store failed'),
      onClaimLost: () =>
        this.runtime.logger.warn({ reqId: req.id }, 'idempotency claim lost: the answer is not remembered'),
    };
    return replyIdempotently(req, reply, idempotency, async () => {
      const result = await this.runtime.useCases.save
        .execute({ leadId, document, traceparent: traceparentOf(req), ifMatch })
        .catch((e: unknown) => {
          throw asPreconditionProblem(e);
        });
      return {
        status: 202,
        headers: {
          etag: etagOf(result.version),
          location: `/v1/twins/${leadId}?minVersion=${result.version}`,
        },
        body: { leadId, version: result.version, status: 'accepted' },
      };
    });
  }

  @Get(':leadId')
  @ApiOperation({
    operationId: 'getTwin',
    summary: 'Read the markdown of a twin',
    description: '`minVersion` gives read-your-writes: the answer is that version or a newer one.',
  })
  @ApiParam(LEAD_ID_PARAM)
  @ApiQuery({
    name: 'minVersion',
    required: false,
    description: 'a version from a PUT answer',
    schema: { type: 'string', pattern: VERSION_PATTERN.source },
  })
  @ApiHeader({ name: 'If-None-Match', required: false })
  @ApiResponse({
    status: 200,
    description: 'the markdown, exactly as stored',
    content: { 'text/markdown': { schema: { type: 'string' } } },
    headers: {
      ...VERSION_HEADERS,
      'X-Twin-Tier': {
        description:
          'storage tier the content was served from: hot (cache or Hot blob), warm (Cool), cold (Archive)',
        schema: { type: 'string', enum: ['hot', 'warm', 'cold'] },
      },
      'X-Cache': { description: 'hit or miss', schema: { type: 'string' } },
    },
  })
  @ApiResponse({ status: 304, description: 'not modified (If-None-Match)' })
  @ApiResponse({
    status: 202,
    description:
      'the twin is in cold storage: a rehydration job was started (or already runs); poll `Location`, then read again',
    content: { 'application/json': { schema: REHYDRATION_JOB_SCHEMA } },
    headers: {
      Location: { description: 'the job', schema: { type: 'string' } },
      'Retry-After': { description: 'seconds before polling', schema: { type: 'integer' } },
    },
  })
  @ApiProblems(400, 404, 500)
  async get(@Param('leadId') rawLeadId: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const leadId = parseLeadId(rawLeadId);
    const query = (req.query ?? {}) as Record<string, unknown>;
    let twin;
    try {
      twin = await this.runtime.useCases.get.execute(leadId, {
        minVersion: singleQueryValue(query.minVersion),
      });
    } catch (e) {
      // A cold (archived) twin: 202 with its rehydration job (the same job for every reader of the version).
      if (!(e instanceof TwinColdError) || !this.runtime.tiering) throw e;
      const job = await this.runtime.tiering.rehydration.start(leadId);
      return reply
        .code(202)
        .header('location', rehydrationJobUrl(job.jobId))
        .header('retry-after', String(REHYDRATION_RETRY_AFTER_S))
        .header('cache-control', 'no-store')
        .send(rehydrationJobBody(job));
    }
    const etag = etagOf(twin.version);
    reply
      .header('etag', etag)
      .header('x-twin-version', twin.version)
      .header('x-twin-tier', twin.tier)
      .header('x-cache', twin.source === 'cache' ? 'hit' : 'miss')
      .header('cache-control', 'private, no-cache');
    if (ifNoneMatchHits(req.headers['if-none-match'], etag)) {
      return reply.code(304).send();
    }
    return reply.code(200).type(MARKDOWN_RESPONSE_TYPE).send(twin.markdown);
  }

  @Get(':leadId/metadata')
  @ApiOperation({ operationId: 'getTwinMetadata', summary: 'Read the metadata record of a twin' })
  @ApiParam(LEAD_ID_PARAM)
  @ApiJson(200, 'the current record', 'TwinRecord')
  @ApiProblems(400, 404, 500)
  async metadata(@Param('leadId') rawLeadId: string, @Res({ passthrough: true }) reply: FastifyReply) {
    const record = await this.runtime.useCases.metadata.metadata(parseLeadId(rawLeadId));
    reply.header('etag', etagOf(record.version));
    return record;
  }

  @Get(':leadId/versions')
  @ApiOperation({ operationId: 'getTwinVersions', summary: 'List the stored versions of a twin' })
  @ApiParam(LEAD_ID_PARAM)
  @ApiJson(200, 'the version history, newest first', 'TwinVersions')
  @ApiProblems(400, 404, 500)
  async versions(@Param('leadId') rawLeadId: string) {
    const leadId = parseLeadId(rawLeadId);
    const versions = await this.runtime.useCases.metadata.versions(leadId);
    return { leadId, versions };
  }

  @Delete(':leadId')
  @HttpCode(202)
  @ApiOperation({
    operationId: 'deleteTwin',
    summary: 'Erase a twin everywhere',
    description:
      'Content and history are erased before the answer; every projection erases the lead on the event.',
  })
  @ApiParam(LEAD_ID_PARAM)
  @ApiJson(202, 'erased from the source of truth; projections follow', 'DeleteAccepted')
  @ApiProblems(400, 404, 500)
  async delete(@Param('leadId') rawLeadId: string, @Req() req: FastifyRequest) {
    const principal = principalOf(req);
    const actor = principal && (principal.id.startsWith('oidc:') ? principal.id : `key:${principal.id}`);
    const result = await this.runtime.useCases.delete.execute(parseLeadId(rawLeadId), {
      actor,
      requestId: req.id,
    });
    return { leadId: result.leadId, version: result.version, status: result.status };
  }
}
