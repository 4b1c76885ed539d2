import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Detection never takes longer than this, whatever the engine does. */
export const DOCKER_DETECTION_TIMEOUT_MS = 1_500;

export interface DockerDetection {
  available: boolean;
  /** Why, in words fit for an error message or a test log. */
  reason: string;
}

/** Is a Docker engine reachable from here? Never throws; answers within ~1.5 s. See {@link detectDocker}. */
export async function dockerAvailable(): Promise<boolean> {
  return (await detectDocker()).available;
}

/**
 * In order: `TWINS_TEST_PROVIDER=local|containers` decides outright; a `DOCKER_HOST` of `unix://` is asked
 * `GET /_ping`; any other `DOCKER_HOST` (tcp with TLS, ssh, npipe) goes to testcontainers' own runtime
 * lookup, bounded by the same timeout; without `DOCKER_HOST` the usual sockets are pinged (rootful, rootless,
 * Docker Desktop). A socket file that exists but does not answer counts as no engine.
 */
export async function detectDocker(env: NodeJS.ProcessEnv = process.env): Promise<DockerDetection> {
  const forced = env['TWINS_TEST_PROVIDER'];
  if (forced === 'local') return { available: false, reason: 'TWINS_TEST_PROVIDER=local' };
  if (forced === 'containers') return { available: true, reason: 'TWINS_TEST_PROVIDER=containers' };
  if (forced) {
    return { available: false, reason: `TWINS_TEST_PROVIDER=${forced} is neither local nor containers` };
  }

  const dockerHost = env['DOCKER_HOST'];
  if (dockerHost?.startsWith('unix://')) return pingSocket(dockerHost.slice('unix://'.length));
  if (dockerHost) return askTestcontainers(dockerHost);

  const candidates = [
    '/var/run/docker.sock',
    ...(env['XDG_RUNTIME_DIR'] ? [join(env['XDG_RUNTIME_DIR'], 'docker.sock')] : []),
    join(homedir(), '.docker', 'run', 'docker.sock'),
  ];
  const present = candidates.filter((path) => existsSync(path));
  if (present.length === 0)
    return { available: false, reason: `no Docker socket (${candidates.join(', ')})` };
  const answers = await Promise.all(present.map(pingSocket));
  return answers.find((a) => a.available) ?? answers[0];
}

/** `GET /_ping` over the unix socket: the engine answers 200 `OK`. */
function pingSocket(socketPath: string): Promise<DockerDetection> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: DOCKER_DETECTION_TIMEOUT_MS });
    req.once('response', (res) => {
      res.resume();
      resolve(
        res.statusCode === 200
          ? { available: true, reason: `Docker engine answers on ${socketPath}` }
          : { available: false, reason: `${socketPath} answered /_ping with HTTP ${res.statusCode}` },
      );
    });
    req.once('timeout', () => {
      req.destroy();
      resolve({
        available: false,
        reason: `${socketPath} did not answer /_ping within ${DOCKER_DETECTION_TIMEOUT_MS} ms`,
      });
    });
    req.once('error', (e: NodeJS.ErrnoException) => {
      resolve({ available: false, reason: `${socketPath}: ${e.code ?? e.message}` });
    });
    req.end();
  });
}

async function askTestcontainers(dockerHost: string): Promise<DockerDetection> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<DockerDetection>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          available: false,
          reason: `DOCKER_HOST=${dockerHost} did not answer within ${DOCKER_DETECTION_TIMEOUT_MS} ms`,
        }),
      DOCKER_DETECTION_TIMEOUT_MS,
    );
    timer.unref();
  });
  const lookup = (async (): Promise<DockerDetection> => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return { available: true, reason: `Docker engine answers at DOCKER_HOST=${dockerHost}` };
    } catch (e) {
      return { available: false, reason: `DOCKER_HOST=${dockerHost}: ${(e as Error).message}` };
    }
  })();
  try {
    return await Promise.race([lookup, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
