import { join } from 'node:path';
import { makeTempDir, TempDir } from '../temp-dir';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /**
   * `memory` (default): nothing touches the disk. `disk`: Loki databases and extents in a temp dir that
   * stop() removes; slower, but it is what a developer's long-running Azurite does.
   */
  persistence?: 'memory' | 'disk';
  /** Upper bound for blob bytes held in memory (default 512 MiB), so a runaway test fails instead of swapping. */
  memoryLimitBytes?: number;
}

export interface TestAzurite {
  /** `http://127.0.0.1:{port}/devstoreaccount1` (path-style, as Azurite serves IP hosts). */
  blobEndpoint: string;
  tableEndpoint: string;
  /** Both endpoints with the account key, usable by BlobServiceClient and TableClient alike. */
  connectionString: string;
  accountName: string;
  accountKey: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const KEEP_ALIVE_SECONDS = 5;
const DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024;

/**
 * Azurite's blob and table services in this process, each on a port the OS picks (port 0, so there is no
 * race between choosing a port and binding it). Loose mode and skipApiVersionCheck because the storage SDKs
 * send an API version newer than Azurite 3.35 knows. Each call gets its own stores: servers started by
 * parallel tests never share data.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<TestAzurite> {
  const {
    BlobServer,
    BlobConfiguration,
    TableServer,
    TableConfiguration,
    MemoryExtentChunkStore,
    AzuriteTelemetryClient,
  } = await loadAzurite();
  // Telemetry is only sent after an explicit init (which the CLI does and we do not); this makes sure.
  AzuriteTelemetryClient.enableTelemetry = false;
  const inMemory = (options.persistence ?? 'memory') === 'memory';
  // The Loki "paths" are only names in memory mode, but a temp dir keeps disk mode (and any stray write) contained.
  const temp: TempDir = await makeTempDir('azurite');
  const blob = new BlobServer(
    new BlobConfiguration(
      HOST,
      0,
      KEEP_ALIVE_SECONDS,
      join(temp.dir, '__azurite_db_blob__.json'),
      join(temp.dir, '__azurite_db_blob_extent__.json'),
      [{ locationId: 'Default', locationPath: join(temp.dir, '__blobstorage__'), maxConcurrency: 10 }],
      false, // access log
      undefined,
      false, // debug log
      undefined,
      true, // loose
      true, // skipApiVersionCheck
      '',
      '',
      '',
      undefined, // oauth
      false, // disableProductStyleUrl
      inMemory,
      inMemory ? new MemoryExtentChunkStore(options.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT) : undefined,
    ),
  );
  const table = new TableServer(
    new TableConfiguration(
      HOST,
      0,
      KEEP_ALIVE_SECONDS,
      join(temp.dir, '__azurite_db_table__.json'),
      false, // debug log
      false, // access log
      undefined,
      undefined,
      true, // loose
      true, // skipApiVersionCheck
      '',
      '',
      '',
      undefined,
      false,
      inMemory,
    ),
  );
  const started: { close(): Promise<void>; clean(): Promise<void> }[] = [];
  const stop = async () => {
    const servers = started.splice(0);
    await Promise.allSettled(servers.map((s) => s.close()));
    // clean() drops the in-memory stores (and files in disk mode) so a long test run does not accumulate them.
    await Promise.allSettled(servers.map((s) => s.clean()));
    await temp.cleanup();
  };
  try {
    await blob.start();
    started.push(blob);
    await table.start();
    started.push(table);
  } catch (e) {
    await stop();
    throw e;
  }

  const blobEndpoint = `${blob.getHttpServerAddress()}/${AZURITE_ACCOUNT_NAME}`;
  const tableEndpoint = `${table.getHttpServerAddress()}/${AZURITE_ACCOUNT_NAME}`;
  return {
    blobEndpoint,
    tableEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};` +
      `BlobEndpoint=${blobEndpoint};TableEndpoint=${tableEndpoint};`,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    stop,
  };
}

/**
 * Loaded on first use: Azurite pulls in Express, Loki and more (about a second), which every test file that
 * imports @twinstore/testing for something else should not pay.
 */
async function loadAzurite() {
  const [blobServer, blobConfiguration, tableServer, tableConfiguration, memoryStore, telemetry] =
    await Promise.all([
      import('azurite/dist/src/blob/BlobServer'),
      import('azurite/dist/src/blob/BlobConfiguration'),
      import('azurite/dist/src/table/TableServer'),
      import('azurite/dist/src/table/TableConfiguration'),
      import('azurite/dist/src/common/persistence/MemoryExtentStore'),
      import('azurite/dist/src/common/Telemetry'),
    ]);
  return {
    BlobServer: cjsDefault(blobServer),
    BlobConfiguration: cjsDefault(blobConfiguration),
    TableServer: cjsDefault(tableServer),
    TableConfiguration: cjsDefault(tableConfiguration),
    MemoryExtentChunkStore: memoryStore.MemoryExtentChunkStore,
    AzuriteTelemetryClient: telemetry.AzuriteTelemetryClient,
  };
}

/**
 * Azurite's modules are CommonJS with `exports.default`. Loaders differ in what `import()` makes of that
 * (vitest unwraps it, plain Node ESM hands over the whole `exports` object), so accept both.
 */
function cjsDefault<T>(module: { default: T }): T {
  const inner = (module.default as unknown as { default?: T } | undefined)?.default;
  return inner ?? module.default;
}
