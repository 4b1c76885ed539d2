import type { FastifyInstance } from 'fastify';

/**
 * The routes registered on the server, kept so an unmatched request can be told apart: a known path with
 * another method (405 with `Allow`), a lead route with an empty leadId segment (400), or nothing (404).
 */
export class RouteTable {
  private readonly routes: { method: string; pattern: RegExp }[] = [];

  /** Must run before the routes are registered (it listens to Fastify's `onRoute`). */
  attach(fastify: FastifyInstance): void {
    fastify.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      for (const method of methods) this.routes.push({ method, pattern: routePattern(route.url) });
    });
  }

  allowedMethods(path: string): string[] {
    const methods = new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method));
    return [...methods].sort();
  }
}

/** Fastify route syntax to a RegExp: `:name` is one segment, `::` a literal colon, `*` anything. */
export function routePattern(url: string): RegExp {
  let source = '';
  for (let i = 0; i < url.length; i++) {
    const c = url[i];
    if (c === ':' && url[i + 1] === ':') {
      source += ':';
      i++;
    } else if (c === ':') {
      while (i + 1 < url.length && /[A-Za-z0-9_]/.test(url[i + 1])) i++;
      source += '[^/]+';
    } else if (c === '*') {
      source += '.*';
    } else {
      source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}
