import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { DependencyCheck, TwinsRuntime } from '@twinstore/platform';
import { ApiJson, ref } from '../docs/openapi.schemas';
import { describeError } from '../http/describe-error';
import { problem, PROBLEM_CONTENT_TYPE } from '../http/problem';
import { TWINS_RUNTIME } from '../ingest-api.tokens';

/** A dependency that does not answer within this time counts as down (a probe must not hang). */
export const READINESS_TIMEOUT_MS = 5_000;

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(@Inject(TWINS_RUNTIME) private readonly runtime: TwinsRuntime) {}

  @Get('healthz')
  @ApiOperation({ operationId: 'liveness', summary: 'Liveness: the process answers (no dependency checked)' })
  @ApiJson(200, 'alive', 'Health')
  healthz() {
    return { status: 'ok' as const };
  }

  @Get('readyz')
  @ApiOperation({ operationId: 'readiness', summary: 'Readiness: every dependency answers' })
  @ApiJson(200, 'ready', 'Readiness')
  @ApiResponse({
    status: 503,
    description: 'a dependency is down; `checks` says which',
    content: { 'application/problem+json': { schema: ref('Problem') } },
  })
  async readyz(@Res() reply: FastifyReply) {
    const checks = await this.check();
    if (checks.every((c) => c.ok)) return reply.code(200).send({ status: 'ok', checks });
    const down = checks.filter((c) => !c.ok).map((c) => c.name);
    return reply
      .code(503)
      .type(PROBLEM_CONTENT_TYPE)
      .send(
        JSON.stringify({
          ...problem('HTTP.NOT_READY', `unavailable: ${down.join(', ')}`, { instance: '/readyz' }),
          checks,
        }),
      );
  }

  private async check(): Promise<DependencyCheck[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<DependencyCheck[]>((resolve) => {
      timer = setTimeout(
        () => resolve([{ name: 'dependencies', ok: false, detail: 'timeout' }]),
        READINESS_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([this.runtime.checkDependencies(), timeout]);
    } catch (e) {
      this.runtime.logger.warn({ err: describeError(e) }, 'readiness check failed');
      return [{ name: 'dependencies', ok: false, detail: 'check failed' }];
    } finally {
      clearTimeout(timer);
    }
  }
}
