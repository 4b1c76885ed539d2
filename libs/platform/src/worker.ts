import 'reflect-metadata';
import { Controller, Get, HttpCode, Inject, Module, Req, Res } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  ApiKeyVerifier,
  ConsumerName,
  credentialFromHeaders,
  RunningSubscription,
} from '@twinstore/application';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { loadConfigOrExit } from './config';
import { startConsumer } from './consumers';
import { onShutdownSignal } from './process';
import { createRuntime } from './runtime';
import { TwinsRuntime } from './runtime.types';
import { startReconcileSchedule } from './reconcile-scheduler';
import { startTieringSweeps } from './tiering-scheduler';

export const RUNTIME = Symbol('TwinsRuntime');
const METRICS_KEYS = Symbol('MetricsKeys');

/** Management endpoints of a worker: liveness (process only), readiness (dependencies), Prometheus metrics. */
@Controller()
class ManagementController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: TwinsRuntime,
    @Inject(METRICS_KEYS) private readonly keys: ApiKeyVerifier | null,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() reply: FastifyReply) {
    const checks = await this.runtime.checkDependencies();
    const ok = checks.every((c) => c.ok);
    await reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not-ready', checks });
  }

  @Get('metrics')
  async metrics(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    // TWINS_METRICS_AUTH: the scrape needs a valid API key (any scope), as on the ingest API
    if (this.keys && !(await this.keys.verify(credentialFromHeaders(req.headers) ?? '')).ok) {
      await reply
        .status(401)
        .header('www-authenticate', 'Bearer realm="twinstore"')
        .type('application/problem+json')
        .send({ type: 'about:blank', title: 'Unauthorized', status: 401, detail: 'send an API key' });
      return;
    }
    await reply
      .header('content-type', this.runtime.metrics.contentType)
      .send(await this.runtime.metrics.metrics());
  }
}

export interface WorkerHandle {
  url: string;
  /** Stop taking messages, drain in-flight ones, close the management server (the runtime stays open). */
  close(): Promise<void>;
}

/** The default management port of each worker, when TWINS_MANAGEMENT_PORT is not set. */
export const MANAGEMENT_PORTS: Record<ConsumerName, number> = {
  writer: 9101,
  indexer: 9102,
  'cache-warmer': 9103,
  tiering: 9104,
};

/** Starts one consumer as a NestJS application with its management HTTP port. */
export async function startWorker(runtime: TwinsRuntime, name: ConsumerName): Promise<WorkerHandle> {
  const keys = runtime.config.auth.metricsAuth
    ? new ApiKeyVerifier(runtime.apiKeys, { cacheTtlMs: runtime.config.auth.cacheTtlMs })
    : null;
  @Module({
    controllers: [ManagementController],
    providers: [
      { provide: RUNTIME, useValue: runtime },
      { provide: METRICS_KEYS, useValue: keys },
    ],
  })
  class WorkerModule {}

  const app = await NestFactory.create<NestFastifyApplication>(WorkerModule, new FastifyAdapter(), {
    logger: false,
  });
  await app.listen(runtime.config.managementPort ?? MANAGEMENT_PORTS[name], runtime.config.host);
  const subscription: RunningSubscription = startConsumer(runtime, name);
  const sweeps = name === 'tiering' ? startTieringSweeps(runtime) : undefined;
  const reconcile = name === 'writer' ? startReconcileSchedule(runtime) : undefined;
  return {
    url: await app.getUrl(),
    async close() {
      sweeps?.stop();
      reconcile?.stop();
      await subscription.close(runtime.config.shutdownDeadlineMs);
      runtime.logger.info('subscription closed');
      await app.close();
    },
  };
}

/** Entry point of a worker process: configuration, runtime, consumer, graceful shutdown on SIGTERM. */
export async function runWorkerMain(name: ConsumerName): Promise<void> {
  const config = loadConfigOrExit();
  const runtime = await createRuntime(config, { service: name });
  const worker = await startWorker(runtime, name);
  runtime.logger.info({ management: worker.url }, `${name} started`);
  onShutdownSignal(runtime.logger, config.shutdownDeadlineMs, async () => {
    await worker.close();
    runtime.logger.info('consumer drained; closing adapters');
    await runtime.close();
  });
}
