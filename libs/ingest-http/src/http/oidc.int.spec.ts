import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { InjectOptions } from 'fastify';
import { exportJWK, generateKeyPair, JWK, JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngestApp } from '../ingest-api';
import { expectProblem } from '../testing/ingest-api.contract';
import { createTestRuntime, TEST_CONFIG } from '../testing/test-runtime';
import { scopesFromClaims } from './oidc-verifier';

const AUDIENCE = 'api://twinstore';
type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** A local identity provider: OpenID discovery and a JWKS over real HTTP, counting its requests. */
async function startIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const hits: string[] = [];
  let issuer = '';
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.setHeader('content-type', 'application/json');
    if (req.url === '/tenant/v2.0/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer.replace('/v2.0', '')}/discovery/keys` }));
    } else if (req.url === '/tenant/discovery/keys' || req.url === '/jwks') {
      res.end(JSON.stringify({ keys: [jwk] }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = `${base}/tenant/v2.0`;
  const sign = (
    claims: JWTPayload,
    options: { key?: SigningKey; exp?: string | number; iss?: string; aud?: string } = {},
  ) =>
    new SignJWT({ scp: 'twins:write twins:read', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
      .setIssuer(options.iss ?? issuer)
      .setAudience(options.aud ?? AUDIENCE)
      .setSubject('user-1')
      .setIssuedAt()
      .setExpirationTime(options.exp ?? '5m')
      .sign(options.key ?? privateKey);
  return {
    issuer,
    jwksUrl: `${base}/jwks`,
    hits,
    sign,
    otherKey: other.privateKey,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('OIDC / Entra ID bearer tokens, against a local JWKS server', () => {
  let idp: Awaited<ReturnType<typeof startIssuer>>;
  const apps: NestFastifyApplication[] = [];

  beforeAll(async () => {
    idp = await startIssuer();
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await idp?.close();
  });

  async function api(jwksUrl?: string) {
    const t = createTestRuntime({
      auth: { ...TEST_CONFIG.auth, cacheTtlMs: 0, oidc: { issuer: idp.issuer, audience: AUDIENCE, jwksUrl } },
    });
    const app = await createIngestApp(t.runtime, { logger: false });
    apps.push(app);
    const fastify = app.getHttpAdapter().getInstance();
    return { t, inject: (o: InjectOptions) => fastify.inject(o) };
  }
  const put = (token: string): InjectOptions => ({
    method: 'PUT',
    url: '/v1/twins/oidc-lead',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    payload: JSON.stringify({ markdown: '# token' }),
  });

  it('accepts a valid token, finding the keys through OpenID discovery', async () => {
    const { inject } = await api();
    const res = await inject(put(await idp.sign({})));
    expect(res.statusCode, res.body).toBe(202);
    expect(idp.hits).toContain('/tenant/v2.0/.well-known/openid-configuration');
    expect(idp.hits).toContain('/tenant/discovery/keys');
  });

  it('accepts a valid token with an explicit JWKS URL; app roles map to scopes too', async () => {
    const { inject } = await api(idp.jwksUrl);
    const token = await idp.sign({ scp: undefined, roles: ['Twins.Write'] });
    expect((await inject(put(token))).statusCode).toBe(202);
    expect(idp.hits).toContain('/jwks');
  });

  it.each([
    ['expired', () => idp.sign({}, { exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['for another audience', () => idp.sign({}, { aud: 'api://someone-else' })],
    ['from another issuer', () => idp.sign({}, { iss: 'https://evil.example/v2.0' })],
    ['signed with another key', () => idp.sign({}, { key: idp.otherKey })],
  ])('refuses a token %s: 401', async (_what, token) => {
    const { inject } = await api(idp.jwksUrl);
    const res = await inject(put(await token()));
    expectProblem(res, 401, 'AUTH.UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('refuses a tampered token: 401', async () => {
    const { inject } = await api(idp.jwksUrl);
    const [h, , s] = (await idp.sign({})).split('.');
    const payload = Buffer.from(
      JSON.stringify({ sub: 'x', scp: 'admin', aud: AUDIENCE, iss: idp.issuer }),
    ).toString('base64url');
    expectProblem(await inject(put(`${h}.${payload}.${s}`)), 401, 'AUTH.UNAUTHENTICATED');
  });

  it('refuses unsigned (alg none) and HMAC-signed tokens: only the issuer asymmetric keys count', async () => {
    const { inject } = await api(idp.jwksUrl);
    const claims = {
      sub: 'x',
      scp: 'admin',
      aud: AUDIENCE,
      iss: idp.issuer,
      exp: Math.floor(Date.now() / 1000) + 600,
    };
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    expectProblem(await inject(put(unsigned)), 401, 'AUTH.UNAUTHENTICATED');
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('a-shared-secret-an-attacker-chose-32b'));
    expectProblem(await inject(put(hmac)), 401, 'AUTH.UNAUTHENTICATED');
  });

  it('answers 403 to a valid token without the scope', async () => {
    const { inject } = await api(idp.jwksUrl);
    const res = await inject(put(await idp.sign({ scp: 'twins:read' })));
    expectProblem(res, 403, 'AUTH.FORBIDDEN');
    const search = await inject({
      method: 'GET',
      url: '/v1/search?q=x',
      headers: { authorization: `Bearer ${await idp.sign({ scp: 'Search' })}` },
    });
    expect(search.statusCode).toBe(200);
  });

  it('maps scp and roles claims to our scopes, ignoring the rest', () => {
    expect(scopesFromClaims({ scp: 'Twins.Read twins:write user_impersonation' })).toEqual([
      'twins:write',
      'twins:read',
    ]);
    expect(scopesFromClaims({ roles: ['Admin', 'Other'] })).toEqual(['admin']);
    expect(scopesFromClaims({ scp: 'search', roles: ['twins.read'] })).toEqual(['twins:read', 'search']);
    expect(scopesFromClaims({})).toEqual([]);
  });
});
