import { randomBytes } from 'node:crypto';
import { AzuriteContainer } from '@testcontainers/azurite';
import { RedisContainer } from '@testcontainers/redis';
import { CONSUMER_NAMES } from '@twinstore/application';
import { TOPIC } from '@twinstore/contracts';
import { GenericContainer, Network, Wait } from 'testcontainers';
import { freePort } from '../free-port';
import { startSearchTestServer } from '../search-server';
import type { RunningEndpoints } from './azure-test-backends';
import { serviceBusEmulatorConfig } from './servicebus-emulator-config';
import { startAll, Stoppable, stopAll } from './start-all';

/**
 * Pinned so a run today and a run next month test against the same emulators (see README.md for why each).
 * The Cosmos DB emulator has only the moving `vnext-preview` tag for its plain-http (Linux, vNext) build.
 */
export const CONTAINER_IMAGES = {
  azurite: 'mcr.microsoft.com/azure-storage/azurite:3.35.0',
  cosmos: 'mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator:vnext-preview',
  serviceBus: 'mcr.microsoft.com/azure-messaging/servicebus-emulator:1.1.2',
  serviceBusSql: 'mcr.microsoft.com/mssql/server:2022-latest',
  redis: 'redis:7.4',
} as const;

/** The Cosmos DB emulators' well-known key (public, documented by Microsoft). */
export const COSMOS_EMULATOR_WELL_KNOWN_KEY =
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

/** The Service Bus emulator's fixed development credentials (public, from its documentation). */
const SERVICE_BUS_EMULATOR_KEY =
  'SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE';
const SERVICE_BUS_AMQP_PORT = 5672;
const STARTUP_TIMEOUT_MS = 180_000;

/**
 * With Docker: Azurite, the Cosmos DB emulator, the Service Bus emulator (with the SQL Server it stores its
 * entities in) and Redis in containers, and, as AI Search has no emulator, the AI Search test server in this
 * process. Testcontainers' reaper removes the containers if this process dies before stop().
 */
export async function startContainerBackends(): Promise<RunningEndpoints> {
  const parts = await startAll({
    azurite: startAzuriteContainer,
    cosmos: startCosmosEmulator,
    search: () => startSearchTestServer(),
    serviceBus: startServiceBusEmulator,
    redis: startRedisContainer,
  });
  return {
    azurite: { connectionString: parts.azurite.connectionString },
    cosmos: { endpoint: parts.cosmos.endpoint, key: parts.cosmos.key },
    search: { endpoint: parts.search.endpoint, apiKey: parts.search.apiKey },
    serviceBus: { connectionString: parts.serviceBus.connectionString },
    redis: { url: parts.redis.url },
    stop: () => stopAll(Object.values(parts)),
  };
}

/** The module runs `azurite` with the options it knows; loose mode and no telemetry are added here. */
class LooseAzuriteContainer extends AzuriteContainer {
  override withCommand(command: string[]): this {
    return super.withCommand([...command, '--loose', '--disableTelemetry']);
  }
}

async function startAzuriteContainer() {
  const container = await new LooseAzuriteContainer(CONTAINER_IMAGES.azurite)
    .withInMemoryPersistence()
    .withSkipApiVersionCheck()
    .start();
  // Blob and Table only, with the same shape as the in-process Azurite's connection string.
  const connectionString =
    `DefaultEndpointsProtocol=http;AccountName=${container.getAccountName()};` +
    `AccountKey=${container.getAccountKey()};BlobEndpoint=${container.getBlobEndpoint()};` +
    `TableEndpoint=${container.getTableEndpoint()};`;
  return { connectionString, stop: stopper(container) };
}

async function startCosmosEmulator() {
  // The gateway advertises its own port in the account document: keep the host port equal to it.
  const port = await freePort();
  const container = await new GenericContainer(CONTAINER_IMAGES.cosmos)
    .withCommand(['--protocol', 'http']) // no self-signed certificate to trust
    .withEnvironment({ PORT: String(port), ENABLE_EXPLORER: 'false', ENABLE_TELEMETRY: 'false' })
    .withExposedPorts({ container: port, host: port })
    .withWaitStrategy(Wait.forLogMessage('Now listening on: '))
    .withStartupTimeout(STARTUP_TIMEOUT_MS)
    .start();
  const endpoint = `http://${container.getHost()}:${port}/`;
  const stop = stopper(container);
  // The port opens before the gateway serves: it can answer 503 for a few seconds.
  await until('the Cosmos DB emulator', () => probeCosmos(endpoint), 60_000).catch(stopThenThrow(stop));
  return { endpoint, key: COSMOS_EMULATOR_WELL_KNOWN_KEY, stop };
}

async function startServiceBusEmulator() {
  const network = await new Network().start();
  const started: Stoppable[] = [{ stop: async () => void (await network.stop()) }];
  const stop = async () => {
    // containers first, their network last
    for (const part of started.splice(0).reverse()) await part.stop().catch(() => undefined);
  };
  try {
    const sqlAlias = 'sqlserver';
    // SQL Server's password policy: upper and lower case, a digit, a symbol.
    const password = `Tw1n-${randomBytes(12).toString('hex')}`;
    const sql = await new GenericContainer(CONTAINER_IMAGES.serviceBusSql)
      .withNetwork(network)
      .withNetworkAliases(sqlAlias)
      .withEnvironment({ ACCEPT_EULA: 'Y', MSSQL_SA_PASSWORD: password })
      .withWaitStrategy(Wait.forLogMessage(/SQL Server is now ready for client connections/))
      .withStartupTimeout(STARTUP_TIMEOUT_MS)
      .start();
    started.push({ stop: stopper(sql) });
    const emulator = await new GenericContainer(CONTAINER_IMAGES.serviceBus)
      .withNetwork(network)
      .withEnvironment({ SQL_SERVER: sqlAlias, MSSQL_SA_PASSWORD: password, ACCEPT_EULA: 'Y' })
      .withCopyContentToContainer([
        {
          content: JSON.stringify(serviceBusEmulatorConfig(), null, 2),
          target: '/ServiceBus_Emulator/ConfigFiles/Config.json',
        },
      ])
      .withExposedPorts(SERVICE_BUS_AMQP_PORT)
      .withWaitStrategy(Wait.forLogMessage('Emulator Service is Successfully Up!'))
      .withStartupTimeout(STARTUP_TIMEOUT_MS)
      .start();
    started.push({ stop: stopper(emulator) });
    const connectionString =
      `Endpoint=sb://${emulator.getHost()}:${emulator.getMappedPort(SERVICE_BUS_AMQP_PORT)};` +
      `${SERVICE_BUS_EMULATOR_KEY};UseDevelopmentEmulator=true;`;
    // The log line comes before the entities of Config.json are usable.
    await until('the Service Bus emulator', () => probeServiceBus(connectionString), 120_000);
    return { connectionString, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function startRedisContainer() {
  const container = await new RedisContainer(CONTAINER_IMAGES.redis).start();
  return { url: container.getConnectionUrl(), stop: stopper(container) };
}

async function probeCosmos(endpoint: string): Promise<void> {
  const { CosmosClient } = await import('@azure/cosmos');
  const client = new CosmosClient({
    endpoint,
    key: COSMOS_EMULATOR_WELL_KNOWN_KEY,
    connectionPolicy: { enableEndpointDiscovery: false, requestTimeout: 5_000 },
  });
  try {
    await client.getDatabaseAccount();
  } finally {
    client.dispose();
  }
}

async function probeServiceBus(connectionString: string): Promise<void> {
  const { ServiceBusClient } = await import('@azure/service-bus');
  const client = new ServiceBusClient(connectionString, {
    retryOptions: { maxRetries: 0, timeoutInMs: 5_000 },
  });
  try {
    await client.createReceiver(TOPIC, CONSUMER_NAMES[0]).peekMessages(1);
  } finally {
    await client.close();
  }
}

function stopper(container: { stop(): Promise<unknown> }): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= container.stop().then(() => undefined));
}

function stopThenThrow(stop: () => Promise<void>) {
  return async (e: unknown): Promise<never> => {
    await stop().catch(() => undefined);
    throw e;
  };
}

async function until(what: string, probe: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  do {
    try {
      return await probe();
    } catch (e) {
      last = e;
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  } while (Date.now() < deadline);
  throw new Error(`${what} was not ready within ${timeoutMs} ms: ${(last as Error)?.message ?? last}`);
}
