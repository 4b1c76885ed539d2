import { ContainerClient } from '@azure/storage-blob';
import { HeldLease, LeaseLock } from '@twinstore/application';

/** Blob lease durations the service accepts (seconds); -1 (infinite) is never used: a crashed holder must expire. */
const MIN_LEASE_S = 15;
const MAX_LEASE_S = 60;

/**
 * Named leases as Azure blob leases on lock blobs (`tiering/locks/{name}.lock`, empty): Acquire Lease fails
 * with 409 while another replica holds it, and the lease ends on its own 15-60 s after the last renewal.
 */
export class BlobLeaseLock implements LeaseLock {
  constructor(
    readonly container: ContainerClient,
    private readonly prefix = 'tiering/locks/',
  ) {}

  async tryAcquire(name: string, ttlSeconds: number): Promise<HeldLease | null> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new Error('lease name must be 1-64 of [A-Za-z0-9_-]');
    const blob = this.container.getBlockBlobClient(`${this.prefix}${name}.lock`);
    try {
      await blob.upload('', 0, { conditions: { ifNoneMatch: '*' } });
    } catch (e) {
      // 409 BlobAlreadyExists, or 412 while another replica holds a lease on it: the lock blob is there.
      if (statusOf(e) !== 409 && statusOf(e) !== 412) throw e;
    }
    const lease = blob.getBlobLeaseClient();
    const duration = Math.min(MAX_LEASE_S, Math.max(MIN_LEASE_S, Math.round(ttlSeconds)));
    try {
      await lease.acquireLease(duration);
    } catch (e) {
      if (statusOf(e) === 409) return null; // LeaseAlreadyPresent
      throw e;
    }
    return {
      renew: async () => {
        try {
          await lease.renewLease();
          return true;
        } catch (e) {
          if (statusOf(e) === 409 || statusOf(e) === 412) return false;
          throw e;
        }
      },
      release: async () => {
        try {
          await lease.releaseLease();
        } catch (e) {
          if (statusOf(e) !== 409 && statusOf(e) !== 412 && statusOf(e) !== 404) throw e;
        }
      },
    };
  }
}

function statusOf(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as { statusCode?: number }).statusCode : undefined;
}
