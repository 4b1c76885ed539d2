import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

const closingServers = new WeakSet<FastifyInstance>();

/**
 * Once the server is closing, every response still being sent carries `Connection: close`, so keep-alive
 * sockets of in-flight requests end with their response instead of holding the shutdown open.
 */
export function registerConnectionDraining(fastify: FastifyInstance): void {
  fastify.addHook('preClose', async () => {
    closingServers.add(fastify);
  });
  fastify.addHook('onSend', async (req, reply) => {
    if (closingServers.has(fastify) && req.raw.httpVersionMajor < 2) reply.header('connection', 'close');
  });
}

/**
 * Stop accepting, let in-flight requests finish, then close. Idle keep-alive sockets are closed as they
 * appear; whatever is still open at the deadline is cut.
 */
export async function closeDraining(app: INestApplication, deadlineMs: number): Promise<void> {
  const server = app.getHttpServer() as Server;
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  const cut = setTimeout(() => server.closeAllConnections(), deadlineMs);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
    clearTimeout(cut);
  }
}
