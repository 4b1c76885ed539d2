import { createServer, Server } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeTempDir, TempDir } from '../temp-dir';
import { detectDocker, DOCKER_DETECTION_TIMEOUT_MS, dockerAvailable } from './docker-detection';

/** A stand-in engine on a unix socket: answers `/_ping` as told (or never). */
async function fakeEngine(socketPath: string, answer: 'ok' | 'error' | 'silent'): Promise<Server> {
  const server = createServer((req, res) => {
    if (answer === 'silent') return; // holds the request open, as a hung engine would
    res.statusCode = answer === 'ok' && req.url === '/_ping' ? 200 : 500;
    res.end(answer === 'ok' ? 'OK' : 'boom');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work;
  return { value, ms: performance.now() - start };
}

describe('detectDocker', () => {
  let temp: TempDir;
  let socket: string;
  beforeEach(async () => {
    temp = await makeTempDir('docker-detection');
    socket = join(temp.dir, 'docker.sock');
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await temp.cleanup();
  });

  it('honours TWINS_TEST_PROVIDER before looking for an engine', async () => {
    const engine = await fakeEngine(socket, 'ok');
    try {
      const host = `unix://${socket}`;
      expect(await detectDocker({ DOCKER_HOST: host, TWINS_TEST_PROVIDER: 'local' })).toEqual({
        available: false,
        reason: 'TWINS_TEST_PROVIDER=local',
      });
      expect(
        await detectDocker({ DOCKER_HOST: 'unix:///nowhere', TWINS_TEST_PROVIDER: 'containers' }),
      ).toEqual({ available: true, reason: 'TWINS_TEST_PROVIDER=containers' });
      const typo = await detectDocker({ DOCKER_HOST: host, TWINS_TEST_PROVIDER: 'docker' });
      expect(typo.available).toBe(false);
      expect(typo.reason).toMatch(/neither local nor containers/);
    } finally {
      await close(engine);
    }
  });

  it('returns false quickly, without throwing, when the socket does not exist', async () => {
    const { value, ms } = await timed(detectDocker({ DOCKER_HOST: `unix://${socket}` }));
    expect(value.available).toBe(false);
    expect(value.reason).toContain('ENOENT');
    expect(ms).toBeLessThan(500);
  });

  it('without DOCKER_HOST checks the default sockets, and answers within 2 s whatever it finds', async () => {
    const { value, ms } = await timed(detectDocker({}));
    expect(typeof value.available).toBe('boolean');
    expect(value.reason).toMatch(/docker\.sock/);
    expect(ms).toBeLessThan(2_000);
  });

  it('says yes when the socket answers GET /_ping with 200', async () => {
    const engine = await fakeEngine(socket, 'ok');
    try {
      expect(await detectDocker({ DOCKER_HOST: `unix://${socket}` })).toEqual({
        available: true,
        reason: `Docker engine answers on ${socket}`,
      });
    } finally {
      await close(engine);
    }
  });

  it('says no when the socket answers with an error', async () => {
    const engine = await fakeEngine(socket, 'error');
    try {
      const result = await detectDocker({ DOCKER_HOST: `unix://${socket}` });
      expect(result).toEqual({ available: false, reason: `${socket} answered /_ping with HTTP 500` });
    } finally {
      await close(engine);
    }
  });

  it('gives up on a socket that never answers within the 2 s budget', async () => {
    const engine = await fakeEngine(socket, 'silent');
    try {
      const { value, ms } = await timed(detectDocker({ DOCKER_HOST: `unix://${socket}` }));
      expect(value.available).toBe(false);
      expect(value.reason).toMatch(/did not answer/);
      expect(ms).toBeGreaterThanOrEqual(DOCKER_DETECTION_TIMEOUT_MS - 50);
      expect(ms).toBeLessThan(2_000);
    } finally {
      await close(engine);
    }
  });

  it('dockerAvailable() reads the process environment', async () => {
    vi.stubEnv('TWINS_TEST_PROVIDER', undefined);
    vi.stubEnv('DOCKER_HOST', `unix://${socket}`);
    expect(await dockerAvailable()).toBe(false);
    const engine = await fakeEngine(socket, 'ok');
    try {
      expect(await dockerAvailable()).toBe(true);
      vi.stubEnv('TWINS_TEST_PROVIDER', 'local');
      expect(await dockerAvailable()).toBe(false);
    } finally {
      await close(engine);
    }
  });
});
