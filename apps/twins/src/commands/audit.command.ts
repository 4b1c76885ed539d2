import { AUDIT_LIST_MAX, auditSubject } from '@twinstore/application';
import { parseLeadId } from '@twinstore/domain';
import { loadConfigOrExit, openAuditLog, TwinsConfig } from '@twinstore/platform';

export interface AuditArgs {
  /** ISO 8601: records at or after this time. */
  since?: string;
  /** Only this lead's records (the leadId is hashed before the query; the log holds hashes only). */
  lead?: string;
  limit?: number;
  json?: boolean;
  out?: NodeJS.WritableStream;
  /** Default: the TWINS_* environment. */
  config?: TwinsConfig;
}

export class AuditUsageError extends Error {}

/** `twins audit`: the erasure records, oldest first, from the store the configuration selects. */
export async function auditCommand(args: AuditArgs): Promise<number> {
  const out = args.out ?? process.stdout;
  const since = args.since === undefined ? undefined : new Date(args.since);
  if (since && Number.isNaN(since.getTime())) throw new AuditUsageError('--since must be an ISO 8601 time');
  const limit = args.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_LIST_MAX) {
    throw new AuditUsageError(`--limit must be an integer from 1 to ${AUDIT_LIST_MAX}`);
  }
  let subject: string | undefined;
  if (args.lead !== undefined) {
    try {
      subject = auditSubject(parseLeadId(args.lead));
    } catch {
      throw new AuditUsageError('--lead is not a valid leadId');
    }
  }
  const log = await openAuditLog(args.config ?? loadConfigOrExit());
  try {
    const records = await log.list({ since, subject, limit });
    if (args.json) {
      out.write(`${JSON.stringify(records, null, 2)}\n`);
    } else if (records.length === 0) {
      out.write('no audit records\n');
    } else {
      for (const r of records) {
        const details = Object.entries(r.details)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        out.write(
          `${r.at}  ${r.action}  ${r.subject.slice(0, 16)}…  by ${r.actor}  v${r.version}  ${details}\n`,
        );
      }
    }
    return 0;
  } finally {
    await log.close();
  }
}
