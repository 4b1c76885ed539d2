import { startAzurite } from '../azure-servers/azurite';
import { startCosmosServer } from '../azure-servers/cosmos-server';
import { startRedisServer } from '../redis-server';
import { startSearchTestServer } from '../search-server';
import { startServiceBusTestBroker } from '../service-bus-broker';
import type { RunningEndpoints } from './azure-test-backends';
import { startAll, stopAll } from './start-all';

/**
 * No Docker: Azurite and cosmosdb-server in this process, the AI Search test server, the Service Bus test
 * broker (topic twin-events with one subscription per consumer) and a private redis-server child.
 */
export async function startLocalBackends(): Promise<RunningEndpoints> {
  const parts = await startAll({
    azurite: () => startAzurite(),
    cosmos: () => startCosmosServer(),
    search: () => startSearchTestServer(),
    serviceBus: () => startServiceBusTestBroker(),
    redis: () => startRedisServer(),
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
