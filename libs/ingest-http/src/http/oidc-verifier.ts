import { createHash } from 'node:crypto';
import { createRemoteJWKSet, errors, JWTPayload, jwtVerify } from 'jose';
import { API_SCOPES } from '@twinstore/application';
import type { Principal } from '@twinstore/application';

export interface OidcSettings {
  issuer: string;
  audience: string;
  /** Unset: the `jwks_uri` of `{issuer}/.well-known/openid-configuration`. */
  jwksUrl?: string;
}

export type TokenVerdict = { ok: true; principal: Principal } | { ok: false; reason: string };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_CACHED_TOKENS = 10_000;
/** Clock skew tolerated between the issuer and us on `exp` and `nbf`. */
const CLOCK_TOLERANCE_S = 30;
/** Only asymmetric signatures: a symmetric key would have to be shared with us, and `none` is never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

export const looksLikeJwt = (credential: string): boolean => JWT_SHAPE.test(credential);

/**
 * Maps a token's `scp` (space-separated delegated scopes) and `roles` (application roles, Entra ID) to our
 * scopes. A value counts when, lower-cased and with `.` read as `:`, it is one of ours: `twins:write`,
 * `Twins.Write`, `twins.read`, `Search`, `Admin` all map; anything else is ignored.
 */
export function scopesFromClaims(payload: JWTPayload): string[] {
  const values: string[] = [];
  if (typeof payload.scp === 'string') values.push(...payload.scp.split(' '));
  if (Array.isArray(payload.scp))
    values.push(...payload.scp.filter((v): v is string => typeof v === 'string'));
  if (Array.isArray(payload.roles))
    values.push(...payload.roles.filter((v): v is string => typeof v === 'string'));
  const ours = new Set<string>();
  for (const value of values) {
    const normal = value.trim().toLowerCase().replace(/\./g, ':');
    if ((API_SCOPES as readonly string[]).includes(normal)) ours.add(normal);
  }
  return API_SCOPES.filter((s) => ours.has(s));
}

/**
 * Verifies OIDC / Entra ID access tokens: signature against the issuer's JWKS (fetched and cached by jose,
 * refetched on an unknown `kid`), `iss`, `aud`, `exp` and `nbf`. A verified token's principal is cached until
 * the token expires or `cacheTtlMs` passes, whichever is first.
 */
export class OidcVerifier {
  private jwks?: Promise<ReturnType<typeof createRemoteJWKSet>>;
  private readonly cache = new Map<string, { until: number; principal: Principal }>();

  constructor(
    private readonly settings: OidcSettings,
    private readonly options: { cacheTtlMs: number; now?: () => number } = { cacheTtlMs: 0 },
  ) {}

  async verify(token: string): Promise<TokenVerdict> {
    const now = (this.options.now ?? Date.now)();
    const cacheKey = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(cacheKey);
    if (cached && cached.until > now) return { ok: true, principal: cached.principal };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.keySet(), {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(now),
      }));
    } catch (e) {
      if (e instanceof errors.JOSEError && !(e instanceof errors.JWKSTimeout)) {
        return { ok: false, reason: e.code };
      }
      throw e; // the key set could not be fetched: not the caller's fault
    }
    const subject = typeof payload.oid === 'string' ? payload.oid : payload.sub;
    if (!subject) return { ok: false, reason: 'no subject' };
    const client = [payload.azp, payload.appid, payload.client_id].find((v) => typeof v === 'string');
    const principal: Principal = {
      id: `oidc:${subject}`,
      name: typeof client === 'string' ? client : subject,
      scopes: scopesFromClaims(payload),
      kind: 'oidc',
    };
    const until = Math.min(now + this.options.cacheTtlMs, (payload.exp ?? 0) * 1000);
    if (until > now) {
      if (this.cache.size >= MAX_CACHED_TOKENS) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(cacheKey, { until, principal });
    }
    return { ok: true, principal };
  }

  private keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    this.jwks ??= this.jwksUrl().then((url) => createRemoteJWKSet(new URL(url)));
    // a failed discovery is retried on the next token
    this.jwks.catch(() => (this.jwks = undefined));
    return this.jwks;
  }

  private async jwksUrl(): Promise<string> {
    if (this.settings.jwksUrl) return this.settings.jwksUrl;
    const discovery = `${this.settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const res = await fetch(discovery, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`OIDC discovery answered ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: unknown };
    if (typeof doc.jwks_uri !== 'string') throw new Error('OIDC discovery document has no jwks_uri');
    return doc.jwks_uri;
  }
}
