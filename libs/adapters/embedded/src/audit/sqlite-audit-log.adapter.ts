import { AUDIT_LIST_MAX, AuditLog, AuditQuery, AuditRecord } from '@twinstore/application';
import { immediate, openSqlite, SqliteDatabase } from '../sqlite';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    actor TEXT NOT NULL,
    version TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS audit_log_subject ON audit_log (subject, at);
  CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
  CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`;

interface Row {
  id: string;
  at: string;
  action: AuditRecord['action'];
  subject: string;
  actor: string;
  version: string;
  request_id: string | null;
  details: string;
}

/**
 * The audit trail in its own SQLite file (`audit.db`), shared by every process. Append-only by construction:
 * triggers refuse UPDATE and DELETE. synchronous=FULL: a record of an erasure survives power loss like the
 * erasure itself. Appending an id twice is a no-op (a retried request records once).
 */
export class SqliteAuditLog implements AuditLog {
  private readonly db: SqliteDatabase;
  private readonly insert;
  private readonly select;

  constructor(file: string) {
    this.db = openSqlite(file, { synchronous: 'full' });
    immediate(this.db, () => this.db.exec(SCHEMA));
    this.insert = this.db.prepare(
      `INSERT INTO audit_log (id, at, action, subject, actor, version, request_id, details)
       VALUES (@id, @at, @action, @subject, @actor, @version, @requestId, @details)
       ON CONFLICT (id) DO NOTHING`,
    );
    this.select = this.db.prepare(
      `SELECT id, at, action, subject, actor, version, request_id, details FROM audit_log
       WHERE at >= @since AND (@subject IS NULL OR subject = @subject)
       ORDER BY at, seq LIMIT @limit`,
    );
  }

  async append(record: AuditRecord): Promise<void> {
    this.insert.run({
      ...record,
      requestId: record.requestId ?? null,
      details: JSON.stringify(record.details),
    });
  }

  async list(query: AuditQuery = {}): Promise<AuditRecord[]> {
    const rows = this.select.all({
      since: query.since?.toISOString() ?? '',
      subject: query.subject ?? null,
      limit: Math.min(Math.max(1, query.limit ?? 100), AUDIT_LIST_MAX),
    }) as Row[];
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      action: r.action,
      subject: r.subject,
      actor: r.actor,
      version: r.version,
      ...(r.request_id ? { requestId: r.request_id } : {}),
      details: JSON.parse(r.details) as Record<string, number>,
    }));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
