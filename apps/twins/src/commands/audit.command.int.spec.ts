import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditSubject } from '@twinstore/application';
import { loadConfig, openAuditLog, TwinsConfig } from '@twinstore/platform';
import { makeTempDir, TempDir } from '@twinstore/testing';
import { auditCommand, AuditUsageError } from './audit.command';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

describe('twins audit', () => {
  let tmp: TempDir;
  let config: TwinsConfig;
  beforeEach(async () => {
    tmp = await makeTempDir('audit-cli');
    config = loadConfig({ TWINS_DATA_DIR: tmp.dir });
    const log = await openAuditLog(config);
    for (const [id, lead, at] of [
      ['v1', 'lead-a', '2030-01-01T00:00:00.000Z'],
      ['v2', 'lead-b', '2030-02-01T00:00:00.000Z'],
    ]) {
      await log.append({
        id,
        at,
        action: 'twin.erased',
        subject: auditSubject(lead),
        actor: 'key:k1',
        version: id,
        details: { contentBlobs: 2 },
      });
    }
    await log.close();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('lists records; --lead hashes the leadId to find its records', async () => {
    const all = new Sink();
    expect(await auditCommand({ config, json: true, out: all })).toBe(0);
    expect((JSON.parse(all.text) as { id: string }[]).map((r) => r.id)).toEqual(['v1', 'v2']);
    const one = new Sink();
    await auditCommand({ config, json: true, lead: 'lead-b', out: one });
    expect(JSON.parse(one.text)).toEqual([
      expect.objectContaining({ id: 'v2', subject: auditSubject('lead-b') }),
    ]);
    const text = new Sink();
    await auditCommand({ config, since: '2030-01-15T00:00:00Z', out: text });
    expect(text.text).toMatch(
      /^2030-02-01T00:00:00.000Z {2}twin.erased .* by key:k1 {2}vv2 {2}contentBlobs=2\n$/,
    );
  });

  it('refuses bad options before opening anything', async () => {
    await expect(auditCommand({ config, since: 'yesterday' })).rejects.toThrow(AuditUsageError);
    await expect(auditCommand({ config, limit: 0 })).rejects.toThrow(AuditUsageError);
    await expect(auditCommand({ config, lead: '../x' })).rejects.toThrow(AuditUsageError);
  });
});
