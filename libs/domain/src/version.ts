import { randomBytes } from 'node:crypto';
import { DomainError } from './errors';

/**
 * A twin version is a ULID: 48 bits of milliseconds then 80 random bits, Crockford base32, 26 characters.
 * Lexicographic order is time order, so every consumer can compare versions as strings, and the time of a
 * version (hence its day-blob path) is recoverable from the version alone.
 */
export type Version = string & { readonly __brand: 'Version' };

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const VERSION_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

export function isVersion(value: unknown): value is Version {
  return typeof value === 'string' && VERSION_PATTERN.test(value);
}

export function parseVersion(value: unknown): Version {
  if (!isVersion(value)) throw new DomainError('TWIN.INVALID_VERSION', 'version must be a 26-character ULID');
  return value;
}

export function versionTime(version: Version): Date {
  let ms = 0;
  for (let i = 0; i < 10; i++) ms = ms * 32 + ALPHABET.indexOf(version[i]);
  return new Date(ms);
}

export function compareVersions(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeTime(ms: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

function encodeRandom(bytes: Buffer): string {
  // 80 bits -> 16 base32 characters
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 16; i++) {
    out = ALPHABET[Number(bits & 31n)] + out;
    bits >>= 5n;
  }
  return out;
}

/**
 * Monotonic within a process: two versions minted in the same millisecond still sort in minting order.
 * `now` is injected (the clock port) so tests can mint versions at any simulated time.
 */
export class VersionGenerator {
  private lastMs = -1;
  private lastRandom = 0n;

  constructor(private readonly now: () => Date) {}

  next(): Version {
    const ms = Math.max(this.now().getTime(), this.lastMs);
    if (ms === this.lastMs) {
      this.lastRandom += 1n;
    } else {
      this.lastMs = ms;
      this.lastRandom = BigInt('0x' + randomBytes(10).toString('hex')) >> 1n; // headroom for increments
    }
    const bytes = Buffer.alloc(10);
    let r = this.lastRandom;
    for (let i = 9; i >= 0; i--) {
      bytes[i] = Number(r & 0xffn);
      r >>= 8n;
    }
    return (encodeTime(ms) + encodeRandom(bytes)) as Version;
  }
}
