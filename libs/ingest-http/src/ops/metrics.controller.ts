import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { TwinsRuntime } from '@twinstore/platform';
import { TWINS_RUNTIME } from '../ingest-api.tokens';

/** Registered only when `TWINS_METRICS_ENABLED` is on. */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(TWINS_RUNTIME) private readonly runtime: TwinsRuntime) {}

  @Get()
  @ApiOperation({ operationId: 'metrics', summary: 'Prometheus metrics (text exposition format)' })
  @ApiResponse({
    status: 200,
    description: 'metrics',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  async metrics(@Res() reply: FastifyReply) {
    const registry = this.runtime.metrics;
    const body = await registry.metrics();
    return reply.code(200).type(registry.contentType).send(body);
  }
}
