import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { TwinsRuntime } from '@twinstore/platform';
import { buildOpenApiDocument, OpenApiHolder } from './docs/openapi';
import { principalOf, registerAuth } from './http/auth';
import { registerFlowControl } from './http/back-pressure';
import { registerBodyParsers } from './http/body-parsers';
import { closeDraining, registerConnectionDraining } from './http/draining';
import { PinoNestLogger } from './http/nest-logger';
import { httpMetrics, registerObservability } from './http/observability';
import { genericClientProblem, PROBLEM_CONTENT_TYPE } from './http/problem';
import { ProblemFilter } from './http/problem.filter';
import { acceptableRequestId } from './http/request-context';
import { RouteTable } from './http/route-table';
import { IngestApiModule } from './ingest-api.module';

export interface IngestAppOptions {
  /** Access logs and Nest's own messages (default true). Errors are logged either way. */
  logger?: boolean;
  /** Milliseconds clock of rate limiting and back-pressure (tests move it); default `performance.now`. */
  flowControlClock?: () => number;
}

export interface RunningIngestApi {
  app: NestFastifyApplication;
  /** `http://host:port`, with the port actually bound (config port 0 = any free port). */
  url: string;
  /** Stop accepting, let in-flight requests finish, flush pending access events. The runtime stays open. */
  close(): Promise<void>;
}

/** A batch carries many twins: its body may be this many times the single-twin body limit. */
export const BATCH_BODY_LIMIT_FACTOR = 16;
const MAX_PARAM_LENGTH = 512;

/**
 * The ingest API as a configured Nest application on Fastify, initialised but not listening (tests inject
 * into it; `startIngestApi` listens). Side-effect free: safe to import from the all-in-one process.
 */
export async function createIngestApp(
  runtime: TwinsRuntime,
  options: IngestAppOptions = {},
): Promise<NestFastifyApplication> {
  const { config, logger } = runtime;
  const verbose = options.logger !== false;
  const openapi: OpenApiHolder = { document: null };
  const batchBodyLimit = Math.min(config.bodyLimitBytes * BATCH_BODY_LIMIT_FACTOR, 1024 * 1024 * 1024);
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    logger: false,
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => acceptableRequestId(req.headers['x-request-id']) ?? randomUUID(),
    // a 129-character leadId must reach validation (400), not the router's 414
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // requests already on an open connection during the drain are served (and told to close), not 503'd
    return503OnClosing: false,
    // the router's own refusals (an ill-formed %-escape, a path parameter over maxParamLength) never reach the
    // problem filter: answer them as problems too, without echoing the path back
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const status =
        error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
      void reply.code(status).type(PROBLEM_CONTENT_TYPE).send(genericClientProblem(status, '/v1'));
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    IngestApiModule.forRuntime(runtime, openapi),
    adapter,
    {
      bodyParser: false,
      abortOnError: false,
      logger: verbose ? new PinoNestLogger(logger) : false,
    },
  );
  const fastify = app.getHttpAdapter().getInstance();
  const routes = new RouteTable();
  routes.attach(fastify);
  fastify.addHook('onRoute', (route) => {
    if (route.url === '/v1/twins::batch') route.bodyLimit = batchBodyLimit;
  });
  registerBodyParsers(fastify);
  registerObservability(fastify, {
    logger,
    metrics: config.metricsEnabled ? httpMetrics(runtime.metrics) : undefined,
    accessLog: verbose,
  });
  registerAuth(fastify, runtime);
  // after authentication (onRequest hooks run in registration order): buckets are per principal
  const flow = registerFlowControl(fastify, runtime, {
    keyOf: (request) => principalOf(request)?.id,
    now: options.flowControlClock,
  });
  registerConnectionDraining(fastify);
  app.useGlobalFilters(new ProblemFilter(logger, routes, flow.metrics));
  if (config.docsEnabled) openapi.document = buildOpenApiDocument(app, config.auth);
  await app.init();
  await fastify.ready();
  return app;
}

/** Create the app and listen on the configured host and port. */
export async function startIngestApi(
  runtime: TwinsRuntime,
  options: IngestAppOptions = {},
): Promise<RunningIngestApi> {
  const app = await createIngestApp(runtime, options);
  await app.listen({ port: runtime.config.port, host: runtime.config.host });
  const address = app.getHttpServer().address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    close: () =>
      (closing ??= (async () => {
        await closeDraining(app, runtime.config.shutdownDeadlineMs);
        await runtime.useCases.access.flush().catch((e: unknown) => {
          runtime.logger.warn({ err: e instanceof Error ? e.name : typeof e }, 'access flush failed');
        });
      })()),
  };
}
