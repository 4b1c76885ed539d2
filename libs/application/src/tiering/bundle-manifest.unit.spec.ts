import { describe, expect, it } from 'vitest';
import {
  bundleOfManifest,
  BundleManifest,
  decodeManifest,
  encodeManifest,
  MANIFEST_FORMAT,
  manifestPath,
} from './bundle-manifest';
import { BUNDLE_PREFIX } from './tier-lifecycle';

const bundle = `${BUNDLE_PREFIX}2027/02/09/4ee18e83-bcee-4b38-b71e-2fcaf93c0d87.bundle`;

describe('bundle manifests', () => {
  it('sit next to their bundle under tiering/manifests/, and the bundle is found back from the name', () => {
    expect(manifestPath(bundle)).toBe(
      'tiering/manifests/2027/02/09/4ee18e83-bcee-4b38-b71e-2fcaf93c0d87.manifest.json.gz',
    );
    expect(bundleOfManifest(manifestPath(bundle))).toBe(bundle);
    expect(bundleOfManifest('tiering/manifests/x.json')).toBeNull();
    expect(bundleOfManifest('digital-twins/metadata/a.json')).toBeNull();
  });

  it('round-trip through gzip, text exact; anything else is refused', async () => {
    const manifest: BundleManifest = {
      format: MANIFEST_FORMAT,
      bundle,
      entries: [
        {
          leadId: 'lead-1',
          version: '01KE9BZH80A3NDMRVCV514J7DC',
          offset: 120,
          length: 9,
          sha256: 'a'.repeat(64),
          contentType: 'text/markdown; charset=utf-8',
          blobMetadata: { version: '01KE9BZH80A3NDMRVCV514J7DC', leadid: 'lead-1', sha256: 'a'.repeat(64) },
          savedAt: '2026-01-06T10:00:00.000Z',
          metadata: { classification: 'cold', tags: ['x'] },
          markdown: '# Kim Ødegaard  \r\n🚤',
        },
      ],
    };
    const body = await encodeManifest(manifest);
    expect(body.includes(Buffer.from('Kim'))).toBe(false); // compressed
    expect(await decodeManifest(body)).toEqual(manifest);
    await expect(decodeManifest(Buffer.from('{}'))).rejects.toThrow();
    const { gzipSync } = await import('node:zlib');
    await expect(
      decodeManifest(gzipSync(JSON.stringify({ format: 'other', bundle, entries: [] }))),
    ).rejects.toThrow('not a bundle manifest');
  });
});
