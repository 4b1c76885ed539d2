import { ChildProcess, spawn } from 'node:child_process';
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
import type { Logger } from 'pino';

export const SERVICES = ['all', 'ingest-api', ...CONSUMER_NAMES] as const;
export type ServiceName = (typeof SERVICES)[number];

/** A child worker that died on its own is started again after this long (a crash loop stays slow). */
const RESTART_DELAY_MS = 1_000;

/**
 * `twins start [service]`: one service in this process, or `all` of them. `all` runs the ingest API and most
 * consumers in this process (one cache, one metrics registry) and the consumers named by
 * TWINS_ALL_WORKER_PROCESSES (default: the indexer, the heaviest) as child processes, so the system uses a
 * second core; a child that dies is restarted, and children stop with their parent.
 */
export async function startCommand(service: ServiceName): Promise<void> {
  const config = loadConfigOrExit();
  const runtime = await createRuntime(config, { service });
  const log = runtime.logger;

  if (service === 'all' || service === 'ingest-api') {
    await ensureFirstApiKey(runtime); // embedded first start only: prints an admin key once to stdout
    const apart = new Set<ConsumerName>(service === 'all' ? config.allWorkerProcesses : []);
    const children = [...apart].map((name) => superviseWorker(name, log));
    const api = await startIngestApi(runtime);
    const subscriptions: RunningSubscription[] =
      service === 'all'
        ? CONSUMER_NAMES.filter((name) => !apart.has(name)).map((name) => startConsumer(runtime, name))
        : [];
    const sweeps = service === 'all' && !apart.has('tiering') ? startTieringSweeps(runtime) : undefined;
    log.info(
      { url: api.url, dataDir: config.dataDir, consumers: subscriptions.length, workerProcesses: [...apart] },
      'twinstore is up',
    );
    process.stderr.write(`twinstore ${service} listening on ${api.url} (data in ${config.dataDir})\n`);
    onShutdownSignal(log, config.shutdownDeadlineMs, async () => {
      sweeps?.stop();
      await api.close();
      await Promise.all([
        ...subscriptions.map((s) => s.close(config.shutdownDeadlineMs)),
        ...children.map((c) => c.stop()),
      ]);
      await runtime.close();
    });
    return;
  }

  const worker = await startWorker(runtime, service as ConsumerName);
  process.stderr.write(`twinstore ${service} running (management ${worker.url})\n`);
  const shutdown = async () => {
    await worker.close();
    log.info('consumer drained; closing adapters');
    await runtime.close();
  };
  onShutdownSignal(log, config.shutdownDeadlineMs, shutdown);
  // Started by `twins start all`: the parent's end (even a SIGKILL) closes the IPC channel; stop with it.
  if (process.send) process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

interface SupervisedWorker {
  /** SIGTERM, then wait for the child to drain and exit. */
  stop(): Promise<void>;
}

/** Runs `twins start <name>` as a child process with a free management port, restarting it if it dies. */
function superviseWorker(name: ConsumerName, log: Logger): SupervisedWorker {
  let stopping = false;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let restartTimer: NodeJS.Timeout | undefined;

  const launch = () => {
    const started = spawn(process.execPath, [...process.execArgv, process.argv[1], 'start', name], {
      env: { ...process.env, TWINS_MANAGEMENT_PORT: '0' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child = started;
    exited = new Promise((resolve) => {
      started.once('exit', (code, signal) => {
        resolve();
        if (stopping) return;
        log.error({ worker: name, code, signal }, 'worker process exited; restarting it');
        restartTimer = setTimeout(launch, RESTART_DELAY_MS);
      });
    });
  };
  launch();

  return {
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
