import { Controller, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TwinsRuntime } from '@twinstore/platform';
import { ApiProblems, ref } from '../docs/openapi.schemas';
import { JSON_MEDIA_TYPE, mediaType } from '../http/body-parsers';
import { ProblemError } from '../http/problem';
import { describeError } from '../http/describe-error';
import { pathOf, traceparentOf } from '../http/request-context';
import { TWINS_RUNTIME } from '../ingest-api.tokens';
import { IDEMPOTENCY_KEY_DOC } from './twins.controller';
import { idempotencyKeyOf, replyIdempotently } from './idempotency.http';
import { batchItems, saveBatch } from './save-batch';

/**
 * `POST /v1/twins:batch` (Google AIP-136 style custom method; `::` is Fastify's escaped literal colon).
 * More than `batchMaxItems` items is a 413: the request is refused for its size, like an oversized body, and
 * the client's fix is the same (split it), not to correct a field.
 */
@ApiTags('twins')
@Controller('v1')
export class BatchController {
  constructor(@Inject(TWINS_RUNTIME) private readonly runtime: TwinsRuntime) {}

  @Post('twins::batch')
  @ApiOperation({
    operationId: 'saveTwinBatch',
    summary: 'Save many twins; a result per item',
    description:
      'Every item is validated on its own; invalid items do not prevent valid ones. Answers 200 when every ' +
      'item was accepted, 207 when some were not. Items of the same lead are saved in request order.',
    requestBody: { required: true, content: { 'application/json': { schema: ref('BatchRequest') } } },
  })
  @ApiResponse({
    status: 200,
    description: 'every item accepted',
    content: { 'application/json': { schema: ref('BatchResponse') } },
  })
  @ApiResponse({
    status: 207,
    description: 'some items not accepted (see each result)',
    content: { 'application/json': { schema: ref('BatchResponse') } },
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: IDEMPOTENCY_KEY_DOC })
  @ApiProblems(400, 409, 413, 415, 422, 500)
  async batch(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    if (mediaType(req) !== JSON_MEDIA_TYPE) {
      throw new ProblemError('HTTP.UNSUPPORTED_MEDIA_TYPE', 'send the batch as application/json');
    }
    const items = batchItems(req.body);
    const max = this.runtime.config.batchMaxItems;
    if (items.length > max) {
      throw new ProblemError(
        'BATCH.TOO_MANY_ITEMS',
        `a batch holds at most ${max} items; this one has ${items.length}`,
      );
    }
    // The key covers the whole batch: a retry gets every item's first result (failed items included; resend
    // those under a new key).
    const idempotency = {
      store: this.runtime.idempotency,
      scope: 'POST /v1/twins:batch',
      key: idempotencyKeyOf(req),
      onStoreError: (e: unknown) =>
        this.runtime.logger.error({ reqId: req.id, err: describeError(e) }, 'idempotency store failed'),
      onClaimLost: () =>
        this.runtime.logger.warn({ reqId: req.id }, 'idempotency claim lost: the answer is not remembered'),
    };
    return replyIdempotently(req, reply, idempotency, async () => {
      const results = await saveBatch(items, {
        save: this.runtime.useCases.save,
        maxItemBytes: this.runtime.config.bodyLimitBytes,
        traceparent: traceparentOf(req),
        instance: pathOf(req),
        onError: (error, index) => {
          this.runtime.logger.error(
            { reqId: req.id, item: index, err: describeError(error) },
            'batch item failed',
          );
          return String(req.id);
        },
      });
      const allAccepted = results.every((r) => r.status === 202);
      return { status: allAccepted ? 200 : 207, headers: {}, body: { results } };
    });
  }
}
