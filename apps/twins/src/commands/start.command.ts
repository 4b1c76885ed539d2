import { ConsumerName, CONSUMER_NAMES, RunningSubscription } from '@twinstore/application';
import { ensureFirstApiKey, startIngestApi } from '@twinstore/ingest-http';
import {
  createRuntime,
  loadConfigOrExit,
  onShutdownSignal,
  startConsumer,
  startTieringSweeps,
  startWorker,
} from '@twinstore/platform';

export const SERVICES = ['all', 'ingest-api', ...CONSUMER_NAMES] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * `twins start [service]`: one service in this process, or `all` of them sharing one runtime (one cache,
 * one metrics registry, the API's /metrics covers every consumer).
 */
export async function startCommand(service: ServiceName): Promise<void> {
  const config = loadConfigOrExit();
  const runtime = await createRuntime(config, { service });
  const log = runtime.logger;

  if (service === 'all' || service === 'ingest-api') {
    await ensureFirstApiKey(runtime); // embedded first start only: prints an admin key once to stdout
    const api = await startIngestApi(runtime);
    const subscriptions: RunningSubscription[] =
      service === 'all' ? CONSUMER_NAMES.map((name) => startConsumer(runtime, name)) : [];
    const sweeps = service === 'all' ? startTieringSweeps(runtime) : undefined;
    log.info({ url: api.url, dataDir: config.dataDir, consumers: subscriptions.length }, 'twinstore is up');
    process.stderr.write(`twinstore ${service} listening on ${api.url} (data in ${config.dataDir})\n`);
    onShutdownSignal(log, config.shutdownDeadlineMs, async () => {
      sweeps?.stop();
      await api.close();
      await Promise.all(subscriptions.map((s) => s.close(config.shutdownDeadlineMs)));
      await runtime.close();
    });
    return;
  }

  const worker = await startWorker(runtime, service as ConsumerName);
  process.stderr.write(`twinstore ${service} running (management ${worker.url})\n`);
  onShutdownSignal(log, config.shutdownDeadlineMs, async () => {
    await worker.close();
    await runtime.close();
  });
}
