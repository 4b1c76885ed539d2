import { createServer } from 'node:net';

/**
 * A TCP port free on 127.0.0.1 at the time of the call, chosen by the OS. Another process can still take it
 * before the caller binds, so callers that spawn servers should retry on a bind failure.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
