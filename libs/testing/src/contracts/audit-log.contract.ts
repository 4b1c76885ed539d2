import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog, AuditRecord, auditSubject } from '@twinstore/application';

export interface AuditLogFixture {
  subject: AuditLog;
  /** Closes the subject and removes what the fixture stored. */
  cleanup(): Promise<void>;
}

const record = (overrides: Partial<AuditRecord> = {}): AuditRecord => ({
  id: randomUUID(),
  at: '2030-01-15T10:00:00.000Z',
  action: 'twin.erased',
  subject: auditSubject('lead-1'),
  actor: 'key:k1',
  version: '01JABCDEFGHJKMNPQRSTVWXYZ0',
  requestId: 'req-1',
  details: { blobsErased: 3 },
  ...overrides,
});

/** The behaviour every AuditLog must have; each implementation's spec calls this once. */
export function describeAuditLogContract(name: string, factory: () => Promise<AuditLogFixture>): void {
  describe(`AuditLog contract: ${name}`, () => {
    let fx: AuditLogFixture;
    let log: AuditLog;
    beforeEach(async () => {
      fx = await factory();
      log = fx.subject;
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it('keeps what is appended, field for field, in time order', async () => {
      const later = record({
        at: '2030-02-01T00:00:00.000Z',
        subject: auditSubject('lead-2'),
        requestId: undefined,
      });
      const first = record();
      await log.append(later);
      await log.append(first);
      expect(await log.list()).toEqual([first, { ...later }]);
    });

    it('appending the same record twice keeps one (a retried request)', async () => {
      const r = record();
      await log.append(r);
      await log.append(r);
      expect(await log.list()).toEqual([r]);
    });

    it('filters by subject and time, and honours the limit', async () => {
      const a = record({ at: '2030-01-01T00:00:00.000Z' });
      const b = record({ at: '2030-03-01T00:00:00.000Z' });
      const c = record({ at: '2030-03-02T00:00:00.000Z', subject: auditSubject('lead-9') });
      for (const r of [a, b, c]) await log.append(r);
      expect(await log.list({ subject: auditSubject('lead-1') })).toEqual([a, b]);
      expect(await log.list({ since: new Date('2030-02-01T00:00:00.000Z') })).toEqual([b, c]);
      expect(await log.list({ limit: 2 })).toEqual([a, b]);
      expect(await log.list({ subject: auditSubject('nobody') })).toEqual([]);
    });

    it('a subject is a hash: the leadId itself is nowhere in a record', async () => {
      const r = record({ subject: auditSubject('Jane-Doe-lead') });
      await log.append(r);
      expect(JSON.stringify(await log.list())).not.toContain('Jane-Doe-lead');
      expect(r.subject).toMatch(/^[0-9a-f]{64}$/);
    });
  });
}
