import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isDomainError } from '@twinstore/domain';
import { backendBusy, type FlowControlMetrics } from './back-pressure';
import { describeError } from './describe-error';
import { genericClientProblem, problem, Problem, PROBLEM_CONTENT_TYPE, ProblemError } from './problem';
import { pathOf } from './request-context';
import { RouteTable } from './route-table';

interface Rendered {
  problem: Problem;
  headers?: Record<string, string>;
}

/**
 * Every failure becomes an RFC 9457 problem: domain errors by their code, HTTP-layer ones (body limit, media
 * type, unknown route, wrong method) by their status, anything else a 500 with a generic detail and a
 * correlation id (the request id), logged server-side with its stack but never the request body.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(
    private readonly logger: Logger,
    private readonly routes: RouteTable,
    private readonly metrics?: FlowControlMetrics,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const rendered = this.render(exception, req);
    if (reply.sent) return;
    reply.removeHeader('etag');
    reply.removeHeader('location');
    reply
      .code(rendered.problem.status)
      .headers(rendered.headers ?? {})
      .type(PROBLEM_CONTENT_TYPE)
      .send(JSON.stringify(rendered.problem));
  }

  render(exception: unknown, req: FastifyRequest): Rendered {
    const instance = pathOf(req);
    if (isDomainError(exception)) {
      return {
        problem: problem(exception.code, exception.message, { instance, errors: exception.details }),
        headers: exception.code === 'TWIN.NOT_YET_AVAILABLE' ? { 'retry-after': '1' } : undefined,
      };
    }
    if (exception instanceof ProblemError) {
      return {
        problem: problem(exception.code, exception.detail, { instance, errors: exception.options.errors }),
        headers: exception.options.headers,
      };
    }
    if (exception instanceof HttpException && exception.getStatus() < 500) {
      return this.httpProblem(exception.getStatus(), req, instance);
    }
    const busy = backendBusy(exception);
    if (busy) {
      // saturation, not a fault: the client waits and retries; what was busy stays in the server log
      this.logger.warn(
        { reqId: req.id, method: req.method, route: req.routeOptions?.url, busy: busy.kind },
        'backend busy',
      );
      this.metrics?.rejections.inc({
        reason: 'backend-busy',
        method: req.method,
        route: req.routeOptions?.url ?? 'unmatched',
      });
      return {
        problem: problem('HTTP.BACKEND_BUSY', 'the service is busy; retry after the Retry-After delay', {
          instance,
        }),
        headers: { 'retry-after': String(busy.retryAfterSeconds) },
      };
    }
    this.logger.error(
      { reqId: req.id, method: req.method, route: req.routeOptions?.url, err: describeError(exception) },
      'request failed',
    );
    return {
      problem: problem('HTTP.INTERNAL', 'the request could not be completed; retry later', {
        instance,
        correlationId: String(req.id),
      }),
    };
  }

  private httpProblem(status: number, req: FastifyRequest, instance: string): Rendered {
    switch (status) {
      case 404:
        return req.routeOptions?.url
          ? { problem: problem('HTTP.NOT_FOUND', 'not found', { instance }) }
          : this.unmatched(req, instance);
      case 413: {
        const limit = req.routeOptions?.bodyLimit;
        return {
          problem: problem(
            'HTTP.CONTENT_TOO_LARGE',
            limit ? `the request body exceeds ${limit} bytes` : 'the request body is too large',
            { instance },
          ),
        };
      }
      case 415:
        return {
          problem: problem(
            'HTTP.UNSUPPORTED_MEDIA_TYPE',
            'the Content-Type is not accepted here; use application/json or text/markdown',
            { instance },
          ),
        };
      default:
        return { problem: genericClientProblem(status, instance) };
    }
  }

  /** No route matched: wrong method (405), an empty leadId segment (400), or unknown (404). */
  private unmatched(req: FastifyRequest, instance: string): Rendered {
    const allowed = this.routes.allowedMethods(instance);
    if (allowed.length > 0) {
      return {
        problem: problem('HTTP.METHOD_NOT_ALLOWED', `${req.method} is not allowed here`, { instance }),
        headers: { allow: allowed.join(', ') },
      };
    }
    const filled = instance.replace(/\/(?=\/|$)/g, '/_');
    if (filled !== instance && this.routes.allowedMethods(filled).includes(req.method)) {
      return { problem: problem('TWIN.INVALID_LEAD_ID', 'leadId must not be empty', { instance }) };
    }
    return { problem: problem('HTTP.NOT_FOUND', 'no resource at this path', { instance }) };
  }
}
