import { escapeHtml } from '@twinstore/application';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { AuthSettings } from '@twinstore/platform';
import { addSecurity } from './auth.openapi';
import { addFlowControlResponses } from './flow-control.openapi';
import { OPENAPI_SCHEMAS } from './openapi.schemas';

export interface OpenApiHolder {
  document: OpenAPIObject | null;
}

/** The OpenAPI 3 document of the app, from the controllers' decorators plus the hand-written schemas. */
export function buildOpenApiDocument(
  app: INestApplication,
  auth: Pick<AuthSettings, 'metricsAuth' | 'docsAuth' | 'oidc'> = { metricsAuth: false, docsAuth: false },
): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('twinstore ingest API')
    .setDescription(
      'Storage for digital twins: one markdown persona per sales lead with its metadata. Errors are RFC 9457 ' +
        '`application/problem+json` with a stable `type` and `code`. Every `/v1` operation needs an API key ' +
        '(`Authorization: Bearer <key>` or `X-Api-Key`) with the scope it names; /healthz and /readyz are open.',
    )
    .setVersion('1')
    .addTag('twins', 'write, read and erase twins')
    .addTag('search', 'full-text and metadata search')
    .addTag('operations', 'health, readiness, metrics, this document')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  document.components = {
    ...document.components,
    schemas: { ...document.components?.schemas, ...OPENAPI_SCHEMAS },
  };
  addFlowControlResponses(document);
  addSecurity(document, auth);
  return document;
}

/**
 * A self-contained page listing every operation (no script, no CDN, no extra package: Swagger UI's assets
 * would need `@fastify/static`). Tools can load `/docs/openapi.json` directly.
 */
export function renderDocsPage(document: OpenAPIObject): string {
  const rows = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item as Record<string, { summary?: string; operationId?: string }>)
      .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch', 'head'].includes(method))
      .map(
        ([method, op]) =>
          `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${escapeHtml(path)}</code></td>` +
          `<td>${escapeHtml(op.summary ?? '')}</td></tr>`,
      ),
  );
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(document.info.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}td{padding:.25rem .75rem;vertical-align:top}code{font-size:.95em}</style>
</head>
<body>
<h1>${escapeHtml(document.info.title)} v${escapeHtml(document.info.version)}</h1>
<p>${escapeHtml(document.info.description ?? '')}</p>
<p>OpenAPI ${escapeHtml(document.openapi)} document: <a href="/docs/openapi.json">/docs/openapi.json</a></p>
<table>
<thead><tr><th>method</th><th>path</th><th>summary</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody>
</table>
</body>
</html>
`;
}
