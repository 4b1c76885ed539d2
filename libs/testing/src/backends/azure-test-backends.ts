import { TOPIC } from '@twinstore/contracts';
import { detectDocker } from './docker-detection';

export type AzureTestProvider = 'containers' | 'local';

export interface AzureTestBackendsOptions {
  /**
   * `auto` (default): containers when a Docker engine is reachable and `ACCEPT_EULA=Y`, else local.
   * `containers`: fail with the reason when that is not the case. `local`: in-process stand-ins, always.
   */
  prefer?: 'auto' | AzureTestProvider;
}

/** Endpoints and keys of the running backends, as the Azure SDKs take them. */
export interface AzureTestEndpoints {
  azurite: { connectionString: string };
  cosmos: { endpoint: string; key: string };
  search: { endpoint: string; apiKey: string };
  serviceBus: { connectionString: string };
  redis: { url: string };
}

export interface AzureTestBackends extends AzureTestEndpoints {
  provider: AzureTestProvider;
  /** Why this provider was chosen (for test logs). */
  reason: string;
  /** The `TWINS_*` settings that point the services' azure profile at these backends. */
  env: Record<string, string>;
  /** Stops everything this start started; idempotent. */
  stop(): Promise<void>;
}

export interface RunningEndpoints extends AzureTestEndpoints {
  stop(): Promise<void>;
}

/**
 * Blob and Table Storage, Cosmos DB, AI Search, Service Bus and Redis for the azure profile, all started in
 * parallel. With Docker: the real emulators in containers (AI Search has none, so its local test server is
 * used either way). Without: the in-process stand-ins of @twinstore/testing and a redis-server child.
 */
export async function startAzureTestBackends(
  options: AzureTestBackendsOptions = {},
): Promise<AzureTestBackends> {
  const { provider, reason } = await chooseProvider(options.prefer ?? 'auto');
  // Loaded on demand: each pulls in SDKs or testcontainers that the other path does not need.
  const running =
    provider === 'containers'
      ? await (await import('./container-backends')).startContainerBackends()
      : await (await import('./local-backends')).startLocalBackends();
  let stopping: Promise<void> | undefined;
  return {
    ...running,
    provider,
    reason,
    env: azureProfileEnv(running),
    stop: () => (stopping ??= running.stop()),
  };
}

export async function chooseProvider(
  prefer: 'auto' | AzureTestProvider,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ provider: AzureTestProvider; reason: string }> {
  if (prefer === 'local') return { provider: 'local', reason: "prefer: 'local'" };
  const docker = await detectDocker(env);
  // The Service Bus emulator and its SQL Server only run once their licence terms are accepted, as in
  // docker-compose.yml: nobody accepts them by running the test suite.
  const eula = env['ACCEPT_EULA'] === 'Y';
  if (prefer === 'containers') {
    if (!docker.available) {
      throw new Error(
        `startAzureTestBackends({ prefer: 'containers' }): no Docker engine is reachable (${docker.reason}). ` +
          "Start Docker or point DOCKER_HOST at it, or use prefer: 'auto' or 'local'.",
      );
    }
    if (!eula) {
      throw new Error(
        "startAzureTestBackends({ prefer: 'containers' }): set ACCEPT_EULA=Y to accept the licence terms of " +
          'the Service Bus emulator and SQL Server that its container needs.',
      );
    }
    return { provider: 'containers', reason: docker.reason };
  }
  if (!docker.available) return { provider: 'local', reason: docker.reason };
  if (!eula) return { provider: 'local', reason: `${docker.reason}, but ACCEPT_EULA is not Y` };
  return { provider: 'containers', reason: docker.reason };
}

/** The settings `loadConfig` reads for the azure profile (see libs/platform/src/config.ts). */
export function azureProfileEnv(b: AzureTestEndpoints): Record<string, string> {
  return {
    TWINS_PROFILE: 'azure',
    TWINS_AZURE_STORAGE_CONNECTION_STRING: b.azurite.connectionString,
    TWINS_AZURE_COSMOS_ENDPOINT: b.cosmos.endpoint,
    TWINS_AZURE_COSMOS_KEY: b.cosmos.key,
    TWINS_AZURE_SEARCH_ENDPOINT: b.search.endpoint,
    TWINS_AZURE_SEARCH_KEY: b.search.apiKey,
    TWINS_AZURE_SERVICEBUS_CONNECTION_STRING: b.serviceBus.connectionString,
    TWINS_AZURE_SERVICEBUS_TOPIC: TOPIC,
    // plain http everywhere (and Cosmos endpoint discovery off)
    TWINS_AZURE_ALLOW_INSECURE: 'true',
    TWINS_REDIS_URL: b.redis.url,
  };
}
