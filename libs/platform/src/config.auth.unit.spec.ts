import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config';

describe('configuration: authentication settings', () => {
  it('defaults: 30 s key cache, 60 failed authentications a minute per address, /metrics and /docs open, no OIDC', () => {
    expect(loadConfig({}).auth).toEqual({
      cacheTtlMs: 30_000,
      failuresPerMinute: 60,
      metricsAuth: false,
      docsAuth: false,
    });
  });

  it('reads every auth setting', () => {
    const c = loadConfig({
      TWINS_AUTH_CACHE_TTL_MS: '0',
      TWINS_AUTH_FAILURES_PER_MIN: '0',
      TWINS_METRICS_AUTH: 'true',
      TWINS_DOCS_AUTH: 'yes',
      TWINS_OIDC_ISSUER: 'https://login.microsoftonline.com/tenant/v2.0',
      TWINS_OIDC_AUDIENCE: 'api://twinstore',
      TWINS_OIDC_JWKS_URL: 'https://login.microsoftonline.com/tenant/discovery/v2.0/keys',
      TWINS_API_KEY: 'tws_x',
    });
    expect(c.auth).toEqual({
      cacheTtlMs: 0,
      failuresPerMinute: 0,
      metricsAuth: true,
      docsAuth: true,
      oidc: {
        issuer: 'https://login.microsoftonline.com/tenant/v2.0',
        audience: 'api://twinstore',
        jwksUrl: 'https://login.microsoftonline.com/tenant/discovery/v2.0/keys',
      },
    });
    expect(JSON.stringify(c)).not.toContain('tws_x'); // the CLI's key is not part of the services' config
  });

  it('wants the OIDC issuer and audience together', () => {
    expect(() => loadConfig({ TWINS_OIDC_ISSUER: 'https://idp.example' })).toThrow(ConfigError);
    expect(() => loadConfig({ TWINS_OIDC_AUDIENCE: 'api://x' })).toThrow(/TWINS_OIDC_ISSUER/);
    expect(() => loadConfig({ TWINS_OIDC_JWKS_URL: 'https://idp.example/keys' })).toThrow(
      /TWINS_OIDC_JWKS_URL/,
    );
    expect(() => loadConfig({ TWINS_AUTH_CACHE_TTL_MS: '-1' })).toThrow(/TWINS_AUTH_CACHE_TTL_MS/);
  });
});
