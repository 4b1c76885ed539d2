import { AUDIT_LIST_MAX, AuditLog, AuditQuery, AuditRecord } from '@twinstore/application';

/** The audit trail of the in-process harness: records in memory, same semantics as the real ones. */
export class InMemoryAuditLog implements AuditLog {
  readonly records: AuditRecord[] = [];

  async append(record: AuditRecord): Promise<void> {
    if (!this.records.some((r) => r.id === record.id)) this.records.push(structuredClone(record));
  }

  async list(query: AuditQuery = {}): Promise<AuditRecord[]> {
    const since = query.since?.toISOString() ?? '';
    return this.records
      .filter((r) => r.at >= since && (!query.subject || r.subject === query.subject))
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))
      .slice(0, Math.min(Math.max(1, query.limit ?? 100), AUDIT_LIST_MAX))
      .map((r) => structuredClone(r));
  }

  async close(): Promise<void> {}
}
