import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import Redis from 'ioredis';
import { freePort } from './free-port';

export interface TestRedisServer {
  url: string;
  port: number;
  /**
   * Unique to this start. On a shared server (`TWINS_TEST_REDIS_URL`) tests must put it in front of every key
   * so that parallel runs do not meet; `stop()` then deletes exactly those keys.
   */
  keyPrefix: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const BIND_ATTEMPTS = 3;

/** Servers still running when the test process exits (a crashed test file) are killed with it. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * A Redis for one test file: `TWINS_TEST_REDIS_URL` when set (shared, isolated by key prefix), otherwise a
 * private `redis-server` (`REDIS_SERVER_BIN`, default from PATH) on a free port, without persistence.
 */
export async function startRedisServer(): Promise<TestRedisServer> {
  const keyPrefix = `twins-test-${randomBytes(6).toString('hex')}:`;
  const shared = process.env['TWINS_TEST_REDIS_URL'];
  if (shared) return useSharedServer(shared, keyPrefix);

  let lastError: unknown;
  for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      const child = await spawnServer(port);
      return { url: `redis://127.0.0.1:${port}`, port, keyPrefix, stop: () => stopChild(child) };
    } catch (e) {
      // Most often the port was taken between freePort() and the bind: try another.
      lastError = e;
    }
  }
  throw lastError;
}

async function useSharedServer(url: string, keyPrefix: string): Promise<TestRedisServer> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  await client.ping();
  await client.quit();
  return {
    url,
    port: Number(new URL(url).port || 6379),
    keyPrefix,
    stop: async () => {
      const cleaner = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        let cursor = '0';
        do {
          const [next, keys] = await cleaner.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await cleaner.unlink(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        await cleaner.quit();
      }
    },
  };
}

async function spawnServer(port: number): Promise<ChildProcess> {
  const bin = process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keepTail = (chunk: Buffer) => {
    // Read the pipes always (a full pipe would block the server); keep only the tail for error messages.
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  running.add(child);
  child.once('exit', () => running.delete(child));
  installExitHook();

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`cannot start ${bin}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${bin} exited (${child.exitCode ?? child.signalCode}) on port ${port}:\n${output}`);
    }
    if (await answersPing(port)) return child;
    await sleep(20);
  }
  await stopChild(child);
  throw new Error(`${bin} did not answer PING on port ${port} within ${START_TIMEOUT_MS} ms:\n${output}`);
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      // "-LOADING" and other errors mean not ready yet.
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
