import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { parseIndexDefinition, validateIndexName } from './index-schema';
import { InMemorySearchIndex } from './search-engine';
import { SearchServiceError } from './search-service-error';

export interface SearchTestServerOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** The admin key clients must send as `api-key`; a random one when absent. */
  apiKey?: string;
}

export interface SearchTestServer {
  /** `http://127.0.0.1:{port}`: give it to the SDK with `{ allowInsecureConnection: true }`. */
  endpoint: string;
  apiKey: string;
  stop(): Promise<void>;
}

/** The service's request limit; larger index batches must be split by the client. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const API_VERSION = /^\d{4}-\d{2}-\d{2}(?:-preview)?$/;
/** `/indexes('name')...` and the equivalent `/indexes/name...`. */
const INDEX_PATH = /^\/indexes(?:\('([^']*)'\)|\/([^/()]+))(\/.*)?$/;
const DOC_PATH = /^\/docs(?:\('([^']*)'\)|\/([^/()$][^/()]*))$/;

/**
 * An in-process stand-in for Azure AI Search's data plane, for tests: the REST subset that the unmodified
 * `@azure/search-documents` SearchIndexClient and SearchClient use to create, read, update and delete an
 * index, index documents, look one up, count, and search (simple syntax, OData filters, facets, paging,
 * ordering, highlights, BM25 scores). Everything lives in memory and is visible at once (the real service
 * refreshes about once a second). Anything outside the subset is answered with a 400 naming it, never ignored.
 */
export async function startSearchTestServer(
  options: SearchTestServerOptions = {},
): Promise<SearchTestServer> {
  const apiKey = options.apiKey ?? randomBytes(24).toString('base64url');
  const indexes = new Map<string, InMemorySearchIndex>();
  const server = createServer((req, res) => {
    handle(req, res, apiKey, indexes).catch((e: unknown) => {
      const error =
        e instanceof SearchServiceError
          ? e
          : new SearchServiceError(500, 'InternalServerError', 'The test server failed on this request.');
      if (!(e instanceof SearchServiceError)) {
        // A bug in the stand-in, not in the client: make it visible in the test output.
        console.error('search test server:', e);
      }
      send(res, error.status, error.toBody());
    });
  });
  await listen(server, options.port ?? 0);
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    apiKey,
    stop: () => close(server),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  apiKey: string,
  indexes: Map<string, InMemorySearchIndex>,
): Promise<void> {
  authorise(req, apiKey);
  const url = new URL(req.url ?? '/', 'http://localhost');
  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) {
    throw new SearchServiceError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    );
  }
  if (!API_VERSION.test(apiVersion)) {
    throw new SearchServiceError(
      400,
      'InvalidApiVersionParameter',
      `Invalid or unsupported api-version '${apiVersion}'.`,
    );
  }
  const method = req.method ?? 'GET';
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new SearchServiceError(
      400,
      'InvalidRequestParameter',
      'The request path is not valid percent-encoding.',
    );
  }

  if (path === '/indexes') {
    if (method === 'GET') {
      return send(res, 200, { value: [...indexes.values()].map((i) => i.serialize()) });
    }
    if (method === 'POST') {
      const definition = parseIndexDefinition(await readJson(req));
      if (indexes.has(definition.name)) {
        throw new SearchServiceError(
          409,
          'ResourceNameAlreadyInUse',
          `Cannot create index '${definition.name}' because it already exists.`,
        );
      }
      const index = new InMemorySearchIndex(definition);
      indexes.set(definition.name, index);
      return send(res, 201, index.serialize(), { etag: index.etag });
    }
    return methodNotAllowed();
  }

  const match = INDEX_PATH.exec(path);
  if (!match) throw new SearchServiceError(404, 'ResourceNotFound', `The resource '${path}' was not found.`);
  const name = match[1] ?? match[2];
  const rest = match[3] ?? '';
  const existing = indexes.get(name);

  if (rest === '') {
    switch (method) {
      case 'GET':
        return send(res, 200, requireIndex(existing, name).serialize(), {
          etag: requireIndex(existing, name).etag,
        });
      case 'DELETE':
        checkPreconditions(req, existing);
        if (!existing) throw indexNotFound(name);
        indexes.delete(name);
        return send(res, 204);
      case 'PUT': {
        validateIndexName(name);
        checkPreconditions(req, existing);
        const definition = parseIndexDefinition(await readJson(req));
        if (definition.name !== name) {
          throw new SearchServiceError(
            400,
            'InvalidRequestParameter',
            `The index name '${definition.name}' in the body does not match the name '${name}' in the URL.`,
          );
        }
        let index = existing;
        if (index) index.update(definition);
        else indexes.set(name, (index = new InMemorySearchIndex(definition)));
        const representation = /return=representation/i.test(String(req.headers['prefer'] ?? ''));
        const status = existing ? (representation ? 200 : 204) : 201;
        return send(res, status, status === 204 ? undefined : index.serialize(), { etag: index.etag });
      }
      default:
        return methodNotAllowed();
    }
  }

  const index = requireIndex(existing, name);
  if (rest === '/stats' && method === 'GET') {
    return send(res, 200, {
      documentCount: index.count(),
      storageSize: index.storageSize(),
      vectorIndexSize: 0,
    });
  }
  if (rest === '/docs/$count' && method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(String(index.count()));
    return;
  }
  if (rest === '/docs/search.index' && method === 'POST') {
    const result = index.indexBatch(await readJson(req));
    return send(res, result.status, { value: result.value });
  }
  if (rest === '/docs/search.post.search' && method === 'POST') {
    const nextLink = `http://${req.headers.host ?? 'localhost'}${url.pathname}?api-version=${encodeURIComponent(apiVersion)}`;
    return send(res, 200, index.search(await readJson(req), nextLink));
  }
  const doc = DOC_PATH.exec(rest);
  if (doc && method === 'GET') {
    const key = doc[1] ?? doc[2];
    const found = index.lookup(key, url.searchParams.get('$select') ?? undefined);
    if (!found) throw new SearchServiceError(404, '', `Document with key '${key}' was not found.`);
    return send(res, 200, found);
  }
  if (rest === '/docs' || rest.startsWith('/docs/search.')) {
    throw new SearchServiceError(
      400,
      'NotSupportedByTestServer',
      `${method} ${rest} is not supported by the test server (the SDK uses POST search.post.search)`,
    );
  }
  throw new SearchServiceError(404, 'ResourceNotFound', `The resource '${path}' was not found.`);
}

/**
 * Admin key only: a missing key is 401, a wrong one 403, as the service answers. Bearer tokens cannot be
 * verified here, so they are refused rather than trusted.
 */
function authorise(req: IncomingMessage, apiKey: string): void {
  const given = req.headers['api-key'];
  if (typeof given !== 'string' || given.length === 0) {
    throw new SearchServiceError(401, 'Unauthorized', 'Access denied: the request has no api-key header.');
  }
  const a = Buffer.from(given);
  const b = Buffer.from(apiKey);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new SearchServiceError(
      403,
      'Forbidden',
      'Access denied: the api-key is not valid for this service.',
    );
  }
}

function checkPreconditions(req: IncomingMessage, existing: InMemorySearchIndex | undefined): void {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  const failed =
    (ifMatch !== undefined && (existing === undefined || (ifMatch !== '*' && ifMatch !== existing.etag))) ||
    (ifNoneMatch !== undefined &&
      existing !== undefined &&
      (ifNoneMatch === '*' || ifNoneMatch === existing.etag));
  if (failed) {
    throw new SearchServiceError(
      412,
      'PreconditionFailed',
      'The precondition given in one of the request headers evaluated to false.',
    );
  }
}

function requireIndex(index: InMemorySearchIndex | undefined, name: string): InMemorySearchIndex {
  if (!index) throw indexNotFound(name);
  return index;
}

function indexNotFound(name: string): SearchServiceError {
  return new SearchServiceError(404, '', `No index with the name '${name}' was found in the service.`);
}

function methodNotAllowed(): never {
  throw new SearchServiceError(405, 'MethodNotAllowed', 'The HTTP method is not allowed on this resource.');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new SearchServiceError(
        413,
        'RequestEntityTooLarge',
        `The request is larger than ${MAX_BODY_BYTES} bytes.`,
      );
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new SearchServiceError(
      400,
      'InvalidRequestParameter',
      'The request is invalid. Details: the body is not valid JSON.',
    );
  }
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; odata.metadata=none; odata.streaming=true; charset=utf-8',
    'odata-version': '4.0',
    ...headers,
  });
  res.end(payload);
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    // Clients keep connections alive; without this, close() would wait for them to time out.
    server.closeAllConnections();
    server.close((e) => (e ? reject(e) : resolve()));
  });
}
