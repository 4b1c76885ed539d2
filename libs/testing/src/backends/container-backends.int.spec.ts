import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startContainerBackends } from './container-backends';

const listeningServers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;

describe('startContainerBackends when the Docker engine is gone', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('fails naming every container part, and stops the part that did start (the AI Search test server)', async () => {
    // What happens when Docker disappears between detection and start: testcontainers finds no runtime.
    vi.stubEnv('DOCKER_HOST', `unix://${join('/nonexistent', `docker-${process.pid}.sock`)}`);
    const before = listeningServers();
    const error = await startContainerBackends().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AggregateError);
    expect((error as Error).message).toMatch(
      /^could not start azurite, cosmos, serviceBus, redis \(the others were stopped again\)/,
    );
    expect((error as AggregateError).errors).toHaveLength(4);
    // a closed server's handle goes within a turn or two of the event loop; a leaked one never does
    await vi.waitFor(() => expect(listeningServers()).toBe(before), { timeout: 1_000 });
  }, 60_000);
});
