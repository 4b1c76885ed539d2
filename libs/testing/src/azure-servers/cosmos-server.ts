import { Server } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * The Cosmos DB emulator's well-known key (public, documented by Microsoft). cosmosdb-server does not check
 * signatures, but the SDK needs a base64 key to sign with.
 */
export const COSMOS_EMULATOR_KEY =
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nZuz8bHVd5K8Vb+PQ3iYeJ2/r4wz5JXwRt34+3TR/dcw==';

export interface TestCosmosServer {
  /** `http://127.0.0.1:{port}/`. Give the SDK `connectionPolicy: { enableEndpointDiscovery: false }`. */
  endpoint: string;
  key: string;
  stop(): Promise<void>;
}

/**
 * @vercel/cosmosdb-server in this process, over plain http on a port the OS picks. The server advertises
 * `https://` locations in its account document; the SDK follows them unless endpoint discovery is off, which
 * is why clients of this server must disable it. Data lives in memory and disappears with stop().
 */
export async function startCosmosServer(): Promise<TestCosmosServer> {
  // keepAlive: without it the server answers `Connection: close` and every request pays a new TCP handshake.
  // Loaded on first use, so test files that never start it do not pay for its import.
  const { createHttpServer } = await import('@vercel/cosmosdb-server');
  const server = createHttpServer({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}/`, key: COSMOS_EMULATOR_KEY, stop: () => close(server) };
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    // Idle keep-alive sockets would hold close() open until their timeout.
    server.closeAllConnections();
  });
}
