/** Who made a request: an API key or an OIDC subject, with the scopes it holds. */
export interface Principal {
  /** The keyId of an API key, `oidc:<subject>` for a token. Safe to log; never a secret. */
  id: string;
  name: string;
  scopes: string[];
  kind: 'api-key' | 'oidc';
}
