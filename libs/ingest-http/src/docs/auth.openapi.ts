import type { OpenAPIObject } from '@nestjs/swagger';
import type { AuthSettings } from '@twinstore/platform';
import { requirementOf } from '../http/auth';

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const WWW_AUTHENTICATE = {
  description:
    'the challenge: `Bearer realm="twinstore"`, with `error="invalid_token"` or `"insufficient_scope"`',
  schema: { type: 'string' },
};
const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head'];

/** `/v1/twins/{leadId}` (OpenAPI) to `/v1/twins/:leadId` (the route pattern the requirement table uses). */
const routeOf = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1');

/**
 * Security schemes (an API key as `Authorization: Bearer` or `X-Api-Key`; an OIDC / Entra ID access token
 * as bearer when configured) and, per operation, the scope it needs with its 401 and 403 answers, derived
 * from the same requirement table the server enforces, so the document cannot drift from it.
 */
export function addSecurity(
  document: OpenAPIObject,
  auth: Pick<AuthSettings, 'metricsAuth' | 'docsAuth' | 'oidc'>,
): void {
  document.components = {
    ...document.components,
    securitySchemes: {
      ...document.components?.securitySchemes,
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description:
          'An API key (`tws_<keyId>_<secret>`, from `twins keys create`)' +
          (auth.oidc ? ' or an OIDC / Entra ID access token (scopes from `scp` and `roles`)' : '') +
          '. Scopes: `twins:write`, `twins:read`, `search`, `admin` (all of them).',
      },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'An API key, as above.' },
    },
  };
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item as Record<string, unknown>)) {
      if (!METHODS.includes(method)) continue;
      const op = operation as {
        security?: unknown;
        responses: Record<string, unknown>;
        description?: string;
      };
      const requirement = requirementOf(method.toUpperCase(), routeOf(path), auth);
      if (requirement === 'open') {
        op.security = [];
        continue;
      }
      const scopes = requirement === 'authenticated' ? [] : [requirement];
      op.security = [{ bearer: scopes }, { apiKey: scopes }];
      op.responses['401'] ??= {
        description: 'no, an invalid, an expired or a revoked credential (`AUTH.UNAUTHENTICATED`)',
        headers: { 'WWW-Authenticate': WWW_AUTHENTICATE },
        content: problemContent,
      };
      if (requirement !== 'authenticated') {
        op.responses['403'] ??= {
          description: `the credential lacks the scope \`${requirement}\` (\`AUTH.FORBIDDEN\`)`,
          headers: { 'WWW-Authenticate': WWW_AUTHENTICATE },
          content: problemContent,
        };
      }
    }
  }
}
