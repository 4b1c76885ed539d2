import { DomainError } from './errors';

/** 1-128 characters of [A-Za-z0-9_-], first a letter or digit. UUIDs fit; `..`, `/`, `%2F` cannot. */
export const LEAD_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export type LeadId = string & { readonly __brand: 'LeadId' };

export function isLeadId(value: unknown): value is LeadId {
  return typeof value === 'string' && LEAD_ID_PATTERN.test(value);
}

export function parseLeadId(value: unknown): LeadId {
  if (!isLeadId(value)) {
    throw new DomainError(
      'TWIN.INVALID_LEAD_ID',
      'leadId must be 1-128 characters of A-Z, a-z, 0-9, "_" or "-", starting with a letter or digit',
    );
  }
  return value;
}
