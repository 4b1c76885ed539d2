import { newApiKey } from '@twinstore/application';
import type { TwinsRuntime } from '@twinstore/platform';

/** The line that carries the first-start key on stdout (tests and scripts may parse it). */
export const FIRST_API_KEY_LINE = /^TWINS_API_KEY=(tws_\S+)$/m;

/**
 * First start on the embedded profile: when the key store holds no key at all, create an admin key and print
 * it once to `out` (stdout, not the JSON log stream on stderr); only its hash is kept. Nothing happens when any
 * key exists (revoked ones included) or on other backends, where operators create keys with `twins keys`.
 * Returns the key id when it created one.
 */
export async function ensureFirstApiKey(
  runtime: TwinsRuntime,
  out: NodeJS.WritableStream = process.stdout,
): Promise<string | undefined> {
  const { config } = runtime;
  if (config.profile !== 'embedded' || config.adapters.activityStore !== 'sqlite') return undefined;
  const issued = newApiKey({ name: 'first-start admin', scopes: ['admin'], now: runtime.clock.now() });
  if (!(await runtime.apiKeys.createIfEmpty(issued.record))) return undefined;
  const { keyId } = issued.record;
  out.write(
    [
      '',
      '================================ twinstore API key ================================',
      'No API key existed, so an admin key was created. It is shown only this once and cannot be',
      'recovered (only its hash is stored). Send it as `Authorization: Bearer <key>` or `X-Api-Key`;',
      `create narrower keys with \`twins keys create\`, revoke this one with \`twins keys revoke ${keyId}\`.`,
      `TWINS_API_KEY=${issued.key}`,
      '===================================================================================',
      '',
    ].join('\n'),
  );
  runtime.logger.warn({ keyId }, 'created the first API key (admin) and printed it once to stdout');
  return keyId;
}
