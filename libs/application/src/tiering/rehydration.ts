import { createEvent } from '@twinstore/contracts';
import { contentPath, DomainError, parseLeadId, Version } from '@twinstore/domain';
import { Clock, EventPublisher, PreconditionFailedError, RehydratePriority } from '../ports';
import { readBundleEntry } from './bundle-format';
import {
  bundleName,
  STAGING_PREFIX,
  TieredContentStore,
  TieringActivity,
  tierChanged,
} from './tier-lifecycle';

export type RehydrationStatus = 'pending' | 'completed' | 'failed';

/** What the API shows of a job: no bundle names, no content. */
export interface RehydrationJobView {
  jobId: string;
  leadId: string;
  version: string;
  status: RehydrationStatus;
  requestedAt: string;
  completedAt?: string;
}

interface RehydrationJob extends RehydrationJobView {
  /** Not before this time (the embedded profile's simulated rehydration delay). */
  readyAt: string;
  staging?: string;
}

/** Thrown by reads of a cold (bundled, archived) twin: the caller starts a rehydration job instead. */
export class TwinColdError extends Error {
  readonly code = 'TWIN.COLD';
  constructor(
    readonly leadId: string,
    readonly version: Version,
  ) {
    super(`twin ${leadId} is in cold storage; a rehydration job makes it readable`);
    this.name = 'TwinColdError';
  }
}

export const JOB_PREFIX = 'tiering/rehydrations/';
/** Finished jobs stay readable this long (a week), then the sweep deletes them. */
export const JOB_RETENTION_MS = 7 * 86_400_000;
const JOB_ID = /^([A-Za-z0-9][A-Za-z0-9_-]{0,127})\.([0-9A-HJKMNP-TV-Z]{26})$/;

export interface RehydrationOptions {
  /** Time before a job may complete (embedded profile: stands in for Azure's hours; 0 on Azure). */
  delayMs: number;
  priority: RehydratePriority;
}

/**
 * Rehydration jobs of cold twins. One job per (leadId, version), id `{leadId}.{version}`, stored as a small
 * JSON blob. Starting copies the twin's bundle to a staging blob in the Hot tier (copy-based rehydration with
 * a rehydrate priority; instant on the embedded store and on Azurite, hours on Azure); reading the job's
 * status advances it: once the copy is complete, the twin's bytes are written back as its Hot day-blob, its
 * placement becomes hot (with a fresh access, so the next sweep keeps it hot), and `twin.rehydrated.v1` and
 * `twin.tier-changed.v1` are published. Every profile runs this same code path.
 */
export class RehydrationService {
  constructor(
    private readonly content: TieredContentStore,
    private readonly activity: TieringActivity,
    private readonly publisher: EventPublisher,
    private readonly clock: Clock,
    private readonly options: RehydrationOptions,
  ) {}

  /** The job for a cold twin's current version (the existing one if already requested). */
  async start(rawLeadId: string): Promise<RehydrationJobView> {
    const leadId = parseLeadId(rawLeadId);
    const placed = await this.activity.locate(leadId);
    if (!placed || placed.tier !== 'cold' || !placed.location) {
      throw new DomainError('TWIN.NOT_FOUND', `twin ${leadId} was not found in cold storage`);
    }
    const jobId = `${leadId}.${placed.version}`;
    const existing = await this.read(jobId);
    // A finished job of the same version belongs to an earlier cold period: this read starts a new one.
    if (existing?.status === 'pending') return view(existing);
    const now = this.clock.now();
    const staging = `${STAGING_PREFIX}${bundleName(placed.location.bundle)}/${jobId}`;
    await this.content.startRehydration(placed.location.bundle, staging, this.options.priority);
    const job: RehydrationJob = {
      jobId,
      leadId,
      version: placed.version,
      status: 'pending',
      requestedAt: now.toISOString(),
      readyAt: new Date(now.getTime() + this.options.delayMs).toISOString(),
      staging,
    };
    await this.write(job);
    return view(job);
  }

  /** The job's status, advanced first (completing it when its copy is done). Null for an unknown job. */
  async status(jobId: string): Promise<RehydrationJobView | null> {
    if (!JOB_ID.test(jobId)) return null;
    const job = await this.read(jobId);
    if (!job) return null;
    return view(job.status === 'pending' ? await this.advance(job) : job);
  }

  /**
   * Advances every pending job (the tiering service calls this after each sweep) and deletes finished jobs
   * older than JOB_RETENTION_MS. Returns how many completed now.
   */
  async advanceAll(): Promise<number> {
    let completed = 0;
    const ids: string[] = [];
    for await (const b of this.content.list(JOB_PREFIX)) {
      ids.push(b.path.slice(JOB_PREFIX.length, -'.json'.length));
    }
    const now = this.clock.now().getTime();
    for (const id of ids) {
      const job = await this.read(id);
      if (job?.status === 'pending') {
        if ((await this.advance(job)).status === 'completed') completed++;
      } else if (job?.completedAt && now - Date.parse(job.completedAt) > JOB_RETENTION_MS) {
        await this.content.delete(`${JOB_PREFIX}${id}.json`);
      }
    }
    return completed;
  }

  private async advance(job: RehydrationJob): Promise<RehydrationJob> {
    const now = this.clock.now();
    if (now.getTime() < Date.parse(job.readyAt)) return job;
    const version = job.version as Version;
    const target = contentPath(job.leadId, version);
    const placed = await this.activity.locate(job.leadId);
    if (!placed || placed.version !== version) {
      // Deleted, or a newer write replaced the version: nothing to bring back.
      return this.finish(job, (await this.content.head(target)) ? 'completed' : 'failed', now);
    }
    if (!placed.location) {
      // Restored already (another reader's poll, or the service's own pass).
      return this.finish(job, placed.tier === 'hot' ? 'completed' : 'failed', now);
    }
    let staging = job.staging ?? '';
    let state = staging ? await this.content.rehydrationState(staging) : 'missing';
    if (state === 'missing' || !staging.includes(`/${bundleName(placed.location.bundle)}/`)) {
      // The bundle was compacted (staged copies go with it): copy the twin's current bundle.
      staging = `${STAGING_PREFIX}${bundleName(placed.location.bundle)}/${job.jobId}`;
      state = await this.content.startRehydration(placed.location.bundle, staging, this.options.priority);
      job = { ...job, staging };
      await this.write(job);
    }
    if (state === 'pending') return job;
    if (state !== 'completed') return this.finish(job, 'failed', now);
    const copy = await this.content.get(staging);
    if (!copy) return job;
    const entry = readBundleEntry(copy.body, placed.location);
    if (entry.leadId !== job.leadId || entry.version !== job.version) return this.finish(job, 'failed', now);
    try {
      await this.content.put(target, entry.body, {
        contentType: entry.contentType,
        metadata: entry.metadata,
        ifNoneMatch: '*',
      });
    } catch (e) {
      // A same-day newer write owns the day-blob: that version is the twin now.
      if (!(e instanceof PreconditionFailedError)) throw e;
    }
    if ((await this.activity.setPlacement(job.leadId, version, 'hot')) === 'applied') {
      await this.activity.recordAccess(job.leadId, now);
      await this.publisher.publish([
        createEvent(
          'twin.rehydrated.v1',
          { leadId: job.leadId, version, jobId: job.jobId, at: now.toISOString() },
          { time: now },
        ),
        tierChanged({ leadId: job.leadId, version, from: 'cold', to: 'hot' }, now),
      ]);
    }
    await this.content.delete(staging);
    return this.finish(job, 'completed', now);
  }

  private async finish(job: RehydrationJob, status: RehydrationStatus, now: Date): Promise<RehydrationJob> {
    const done: RehydrationJob = { ...job, status, completedAt: now.toISOString() };
    if (job.staging) await this.content.delete(job.staging);
    delete done.staging;
    await this.write(done);
    return done;
  }

  private async read(jobId: string): Promise<RehydrationJob | null> {
    const blob = await this.content.get(`${JOB_PREFIX}${jobId}.json`);
    return blob ? (JSON.parse(blob.body.toString('utf8')) as RehydrationJob) : null;
  }

  private async write(job: RehydrationJob): Promise<void> {
    await this.content.put(`${JOB_PREFIX}${job.jobId}.json`, Buffer.from(JSON.stringify(job)), {
      contentType: 'application/json',
    });
  }
}

function view(job: RehydrationJob): RehydrationJobView {
  return {
    jobId: job.jobId,
    leadId: job.leadId,
    version: job.version,
    status: job.status,
    requestedAt: job.requestedAt,
    ...(job.completedAt ? { completedAt: job.completedAt } : {}),
  };
}
