import 'reflect-metadata';
import { createRuntime, loadConfigOrExit, onShutdownSignal } from '@twinstore/platform';
import { ensureFirstApiKey, startIngestApi } from '@twinstore/ingest-http';

/** The ingest API alone: `node dist/apps/ingest-api/main.js` (TWINS_* settings from the environment). */
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const runtime = await createRuntime(config, { service: 'ingest-api' });
  await ensureFirstApiKey(runtime); // embedded first start only: prints an admin key once to stdout
  const api = await startIngestApi(runtime);
  runtime.logger.info({ url: api.url }, 'ingest-api listening');
  onShutdownSignal(runtime.logger, config.shutdownDeadlineMs, async () => {
    // stop accepting and drain in-flight requests, flush pending access events, then close the stores
    await api.close();
    await runtime.close();
  });
}

main().catch((e: unknown) => {
  process.stderr.write(`ingest-api failed to start: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
