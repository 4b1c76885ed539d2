import { describe, expect, it } from 'vitest';
import { createEvent, decodeEvent, encodeEvent } from '@twinstore/contracts';
import { errorName, invalidBodyReason } from './invalid-body-reason';

function reasonFor(body: string): string {
  try {
    decodeEvent(body);
  } catch (error) {
    return invalidBodyReason(error, body);
  }
  throw new Error('expected the body to be invalid');
}

const valid = createEvent('twin.accessed.v1', { leadId: 'lead-7', accessedAt: '2026-01-01T00:00:00.000Z' });

describe('invalidBodyReason', () => {
  it('names the failing paths and none of the values', () => {
    const body = JSON.parse(encodeEvent(valid)) as Record<string, unknown>;
    body.data = { leadId: 'lead-7', accessedAt: 'Ada Lovelace, income 98765' };
    body.time = 'secret-value-42';
    const reason = reasonFor(JSON.stringify(body));

    expect(reason).toBe('SchemaValidationFailed: time');
    body.time = valid.time;
    const dataReason = reasonFor(JSON.stringify(body));
    expect(dataReason).toBe('SchemaValidationFailed: data.accessedAt');
    expect(dataReason).not.toMatch(/Ada|98765/);
  });

  it('says when the body is not JSON or has an unknown type, without quoting it', () => {
    expect(reasonFor('{"income": 98765')).toBe('SchemaValidationFailed: (not JSON)');
    const unknown = { ...JSON.parse(encodeEvent(valid)), type: 'twin.income-98765.v1' };
    expect(reasonFor(JSON.stringify(unknown))).toBe('SchemaValidationFailed: type');
  });

  it('lists at most ten paths', () => {
    const body = JSON.parse(encodeEvent(valid)) as Record<string, unknown>;
    for (const key of ['specversion', 'id', 'source', 'type', 'time']) body[key] = 1;
    const reason = reasonFor(JSON.stringify(body));
    expect(reason).toMatch(/^SchemaValidationFailed: /);
    expect(reason.split(', ').length).toBeLessThanOrEqual(10);
    expect(reason).toContain('specversion');
  });
});

describe('errorName', () => {
  it('keeps the class of an error and drops its message', () => {
    expect(errorName(new RangeError('age 41 out of range'))).toBe('RangeError');
    expect(errorName('a thrown string with data')).toBe('NonErrorThrown');
  });
});
