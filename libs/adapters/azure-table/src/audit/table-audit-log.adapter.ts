import { odata, RestError, TableClient } from '@azure/data-tables';
import { AUDIT_LIST_MAX, AuditLog, AuditQuery, AuditRecord } from '@twinstore/application';
import { createTableClient, TableConnectionOptions } from '../table-client';

export interface TableAuditLogOptions extends TableConnectionOptions {
  /** Default `twinaudit`. */
  table?: string;
}

interface AuditEntity {
  partitionKey: string;
  rowKey: string;
  Action: AuditRecord['action'];
  Subject: string;
  Actor: string;
  Version: string;
  RequestId?: string;
  Details: string;
  At: string;
  Id: string;
}

/** The audit table next to an activity table (`{activity}audit`, within 63 characters). */
export function auditTableName(activityTable: string): string {
  return `${activityTable.slice(0, 58)}audit`;
}

/**
 * The audit trail on Azure Table Storage. PartitionKey: the record's UTC month (`2026-11`), so a time range
 * is a range of partitions; RowKey: time then id, so a partition reads in time order and a retried append
 * of the same record is a 409 that changes nothing. Append-only: this adapter has no update or delete (an
 * operator who needs immutability adds a policy on the account). Filters go through `odata`, never by hand.
 */
export class TableAuditLog implements AuditLog {
  constructor(readonly table: TableClient) {}

  async ensureTable(): Promise<void> {
    await this.table.createTable();
  }

  async append(record: AuditRecord): Promise<void> {
    const entity: AuditEntity = {
      partitionKey: record.at.slice(0, 7),
      rowKey: `${record.at}_${record.id}`,
      Action: record.action,
      Subject: record.subject,
      Actor: record.actor,
      Version: record.version,
      ...(record.requestId ? { RequestId: record.requestId } : {}),
      Details: JSON.stringify(record.details),
      At: record.at,
      Id: record.id,
    };
    try {
      await this.table.createEntity(entity);
    } catch (e) {
      if (e instanceof RestError && e.statusCode === 409) return;
      throw e;
    }
  }

  async list(query: AuditQuery = {}): Promise<AuditRecord[]> {
    const since = query.since?.toISOString() ?? '0000-00-00T00:00:00.000Z';
    const limit = Math.min(Math.max(1, query.limit ?? 100), AUDIT_LIST_MAX);
    const filter = query.subject
      ? odata`PartitionKey ge ${since.slice(0, 7)} and At ge ${since} and Subject eq ${query.subject}`
      : odata`PartitionKey ge ${since.slice(0, 7)} and At ge ${since}`;
    const out: AuditRecord[] = [];
    for await (const e of this.table.listEntities<AuditEntity>({ queryOptions: { filter } })) {
      out.push({
        id: e.Id,
        at: e.At,
        action: e.Action,
        subject: e.Subject,
        actor: e.Actor,
        version: e.Version,
        ...(e.RequestId ? { requestId: e.RequestId } : {}),
        details: JSON.parse(e.Details) as Record<string, number>,
      });
      if (out.length >= limit) break;
    }
    return out;
  }

  async close(): Promise<void> {}
}

export function createTableAuditLog(options: TableAuditLogOptions): TableAuditLog {
  return new TableAuditLog(createTableClient(options, options.table ?? 'twinaudit', 'createTableAuditLog'));
}
