import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { FastifyReply } from 'fastify';
import type { RehydrationJobView } from '@twinstore/application';
import { DomainError } from '@twinstore/domain';
import type { TwinsRuntime } from '@twinstore/platform';
import { ApiProblems } from '../docs/openapi.schemas';
import { TWINS_RUNTIME } from '../ingest-api.tokens';

/** How long a client should wait before polling a pending job again. */
export const REHYDRATION_RETRY_AFTER_S = 60;

/** The job's JSON (no personal data: ids, status and times only) with the URLs to poll and to read. */
export const REHYDRATION_JOB_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['jobId', 'leadId', 'version', 'status', 'requestedAt', 'href', 'twin'],
  properties: {
    jobId: { type: 'string' },
    leadId: { type: 'string' },
    version: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'completed', 'failed'] },
    requestedAt: { type: 'string', format: 'date-time' },
    completedAt: { type: 'string', format: 'date-time' },
    href: { type: 'string', description: 'this job' },
    twin: { type: 'string', description: 'the twin, readable once the job completed' },
  },
};

export function rehydrationJobUrl(jobId: string): string {
  return `/v1/rehydrations/${encodeURIComponent(jobId)}`;
}

export function rehydrationJobBody(job: RehydrationJobView) {
  return { ...job, href: rehydrationJobUrl(job.jobId), twin: `/v1/twins/${job.leadId}` };
}

/**
 * Rehydration jobs: reading a cold twin (`GET /v1/twins/{leadId}`) answers 202 with a job; its status is
 * here. Reading the status also advances the job, so a client that polls completes it without waiting for
 * the tiering service's next pass.
 */
@ApiTags('twins')
@Controller('v1/rehydrations')
export class RehydrationController {
  constructor(@Inject(TWINS_RUNTIME) private readonly runtime: TwinsRuntime) {}

  @Get(':jobId')
  @ApiOperation({
    operationId: 'getRehydrationJob',
    summary: 'Status of the rehydration job of a cold twin',
    description:
      'pending (the archived bundle is being copied back to the Hot tier: minutes to hours on Azure), ' +
      'completed (the twin is readable and hot again) or failed (the twin was deleted or replaced meanwhile).',
  })
  @ApiParam({ name: 'jobId', description: 'from the 202 answer of a twin read', schema: { type: 'string' } })
  @ApiResponse({
    status: 200,
    description: 'the job',
    content: { 'application/json': { schema: REHYDRATION_JOB_SCHEMA } },
    headers: {
      'Retry-After': { description: 'while pending: seconds to wait', schema: { type: 'integer' } },
    },
  })
  @ApiProblems(404, 500)
  async get(@Param('jobId') jobId: string, @Res({ passthrough: true }) reply: FastifyReply) {
    const job = await this.runtime.tiering?.rehydration.status(jobId);
    if (!job) throw new DomainError('TWIN.NOT_FOUND', 'no such rehydration job');
    reply.header('cache-control', 'no-store');
    if (job.status === 'pending') reply.header('retry-after', String(REHYDRATION_RETRY_AFTER_S));
    return rehydrationJobBody(job);
  }
}
