import Database from 'better-sqlite3';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditSubject } from '@twinstore/application';
import { describeAuditLogContract, makeTempDir } from '@twinstore/testing';
import { SqliteAuditLog } from './sqlite-audit-log.adapter';

describeAuditLogContract('SQLite', async () => {
  const tmp = await makeTempDir('audit');
  const subject = new SqliteAuditLog(join(tmp.dir, 'audit.db'));
  return {
    subject,
    cleanup: async () => {
      await subject.close();
      await tmp.cleanup();
    },
  };
});

describe('SqliteAuditLog', () => {
  it('refuses UPDATE and DELETE, even from another connection', async () => {
    const tmp = await makeTempDir('audit');
    const file = join(tmp.dir, 'audit.db');
    const log = new SqliteAuditLog(file);
    await log.append({
      id: 'r1',
      at: '2030-01-01T00:00:00.000Z',
      action: 'twin.erased',
      subject: auditSubject('lead-1'),
      actor: 'key:k1',
      version: 'v1',
      details: { blobsErased: 1 },
    });
    const raw = new Database(file);
    try {
      expect(() => raw.prepare(`UPDATE audit_log SET actor = 'someone-else'`).run()).toThrow(/append-only/);
      expect(() => raw.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    } finally {
      raw.close();
      await log.close();
      await tmp.cleanup();
    }
  });
});
