import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { azureProfileEnv, chooseProvider, startAzureTestBackends } from './azure-test-backends';
import { startAll } from './start-all';

/** A Docker socket that cannot exist, so these tests mean the same on machines with Docker. */
const NO_DOCKER = { DOCKER_HOST: `unix://${join('/nonexistent', `docker-${process.pid}.sock`)}` };

describe('chooseProvider', () => {
  it('takes local when asked, without looking for Docker', async () => {
    expect(await chooseProvider('local', { TWINS_TEST_PROVIDER: 'containers', ACCEPT_EULA: 'Y' })).toEqual({
      provider: 'local',
      reason: "prefer: 'local'",
    });
  });

  it('auto: local without a Docker engine, and says why', async () => {
    const choice = await chooseProvider('auto', { ...NO_DOCKER, ACCEPT_EULA: 'Y' });
    expect(choice.provider).toBe('local');
    expect(choice.reason).toContain('ENOENT');
  });

  it('auto: containers with an engine and the licence terms accepted, local without the acceptance', async () => {
    expect(await chooseProvider('auto', { TWINS_TEST_PROVIDER: 'containers', ACCEPT_EULA: 'Y' })).toEqual({
      provider: 'containers',
      reason: 'TWINS_TEST_PROVIDER=containers',
    });
    expect(await chooseProvider('auto', { TWINS_TEST_PROVIDER: 'containers' })).toEqual({
      provider: 'local',
      reason: 'TWINS_TEST_PROVIDER=containers, but ACCEPT_EULA is not Y',
    });
  });

  it("prefer: 'containers' fails with the reason when no engine is reachable, or the terms are not accepted", async () => {
    await expect(chooseProvider('containers', { ...NO_DOCKER, ACCEPT_EULA: 'Y' })).rejects.toThrow(
      /prefer: 'containers'.*no Docker engine is reachable \(.*ENOENT\)/,
    );
    await expect(
      chooseProvider('containers', { TWINS_TEST_PROVIDER: 'local', ACCEPT_EULA: 'Y' }),
    ).rejects.toThrow(/no Docker engine is reachable \(TWINS_TEST_PROVIDER=local\)/);
    await expect(chooseProvider('containers', { TWINS_TEST_PROVIDER: 'containers' })).rejects.toThrow(
      /set ACCEPT_EULA=Y/,
    );
  });
});

describe("startAzureTestBackends({ prefer: 'containers' }) without Docker", () => {
  afterEach(() => vi.unstubAllEnvs());

  it('fails fast with a clear error and starts nothing', async () => {
    vi.stubEnv('TWINS_TEST_PROVIDER', undefined);
    vi.stubEnv('DOCKER_HOST', NO_DOCKER.DOCKER_HOST);
    vi.stubEnv('ACCEPT_EULA', 'Y');
    const start = performance.now();
    await expect(startAzureTestBackends({ prefer: 'containers' })).rejects.toThrow(
      /no Docker engine is reachable.*Start Docker or point DOCKER_HOST at it/,
    );
    expect(performance.now() - start).toBeLessThan(2_000);
  });
});

describe('azureProfileEnv', () => {
  const endpoints = {
    azurite: {
      connectionString:
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;' +
        'BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;TableEndpoint=http://127.0.0.1:2/devstoreaccount1;',
    },
    cosmos: { endpoint: 'http://127.0.0.1:3/', key: 'a2V5' },
    search: { endpoint: 'http://127.0.0.1:4', apiKey: 'search-key' },
    serviceBus: {
      connectionString:
        'Endpoint=sb://127.0.0.1:5/;SharedAccessKeyName=x;SharedAccessKey=y;UseDevelopmentEmulator=true',
    },
    redis: { url: 'redis://127.0.0.1:6' },
  };

  // libs/platform's loadConfig reads these names (config.ts); @twinstore/testing cannot import it (platform's
  // tests import testing), so the names are spelled out here and the e2e tests check them end to end.
  it('points every port of the azure profile at these backends, over plain http', () => {
    expect(azureProfileEnv(endpoints)).toEqual({
      TWINS_PROFILE: 'azure',
      TWINS_AZURE_STORAGE_CONNECTION_STRING: endpoints.azurite.connectionString,
      TWINS_AZURE_COSMOS_ENDPOINT: endpoints.cosmos.endpoint,
      TWINS_AZURE_COSMOS_KEY: endpoints.cosmos.key,
      TWINS_AZURE_SEARCH_ENDPOINT: endpoints.search.endpoint,
      TWINS_AZURE_SEARCH_KEY: endpoints.search.apiKey,
      TWINS_AZURE_SERVICEBUS_CONNECTION_STRING: endpoints.serviceBus.connectionString,
      TWINS_AZURE_SERVICEBUS_TOPIC: 'twin-events',
      TWINS_AZURE_ALLOW_INSECURE: 'true',
      TWINS_REDIS_URL: endpoints.redis.url,
    });
  });
});

describe('startAll', () => {
  it('stops the parts that started when another fails, and names the failed one', async () => {
    const stopped: string[] = [];
    const part = (name: string) => async () => ({ name, stop: async () => void stopped.push(name) });
    await expect(
      startAll({
        a: part('a'),
        broken: async () => Promise.reject(new Error('port in use')),
        c: part('c'),
      }),
    ).rejects.toThrow(/could not start broken .*\n {2}broken: port in use/);
    expect(stopped.sort()).toEqual(['a', 'c']);
  });

  it('hands back every part by name when all start', async () => {
    const parts = await startAll({ x: async () => ({ n: 1, stop: async () => {} }) });
    expect(parts.x.n).toBe(1);
  });
});
