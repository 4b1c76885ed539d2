import { createHash } from 'node:crypto';

/** What was done. Erasure is the one action the law asks us to prove. */
export type AuditAction = 'twin.erased';

/**
 * One audit record. It holds no personal data: the lead is named by `subject`, a SHA-256 of its leadId (an
 * auditor who is given a leadId can find its records; the log alone names no one), the actor by its API key id
 * or token subject, never by a secret; no markdown, no metadata.
 */
export interface AuditRecord {
  /** Unique per record (a ULID-like id or UUID). */
  id: string;
  /** ISO 8601 time of the action. */
  at: string;
  action: AuditAction;
  /** `auditSubject(leadId)`. */
  subject: string;
  /** API key id (`key:{id}`), token subject (`oidc:{sub}`), or `unknown`. */
  actor: string;
  /** The version the action produced (the deletion version of an erasure). */
  version: string;
  /** The request id, to join with access logs. */
  requestId?: string;
  /** Counts only (e.g. blobs erased). */
  details: Record<string, number>;
}

export interface AuditQuery {
  /** Records at or after this time. */
  since?: Date;
  subject?: string;
  /** At most this many, oldest first (default 100, at most 1000). */
  limit?: number;
}

/** An append-only audit trail (there is no update and no delete). */
export interface AuditLog {
  append(record: AuditRecord): Promise<void>;
  list(query?: AuditQuery): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export const AUDIT_LIST_MAX = 1000;

/** The audit subject of a lead: hex SHA-256 of its leadId. */
export function auditSubject(leadId: string): string {
  return createHash('sha256').update(leadId, 'utf8').digest('hex');
}
