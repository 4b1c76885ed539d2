import { describe, expect, it } from 'vitest';
import {
  buildAsyncApiDocument,
  createEvent,
  decodeEvent,
  encodeEvent,
  EVENT_TYPES,
  EventValidationError,
} from './index';

const saved = {
  leadId: 'lead-1',
  version: '01KB0000000000000000000000',
  blobPath: 'digital-twins/2026/11/28/lead-1.md',
  contentHash: 'a'.repeat(64),
  size: 3,
  contentType: 'text/markdown' as const,
  savedAt: '2026-11-28T10:00:00.000Z',
  metadata: { classification: 'hot' as const, tags: [], extra: {} },
  markdown: 'abc',
};

describe('events', () => {
  it('are CloudEvents 1.0 with subject = leadId and survive encode/decode', () => {
    const e = createEvent('twin.saved.v1', saved, { id: 'lead-1:01KB0000000000000000000000' });
    expect(e).toMatchObject({
      specversion: '1.0',
      type: 'twin.saved.v1',
      subject: 'lead-1',
      source: '/twinstore',
    });
    expect(decodeEvent(encodeEvent(e))).toEqual(e);
  });

  it('refuses data that does not match the schema of its type, naming paths not values', () => {
    const bad = { ...createEvent('twin.saved.v1', saved), data: { ...saved, version: 'nope', size: -1 } };
    try {
      decodeEvent(JSON.stringify(bad));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(EventValidationError);
      expect((e as EventValidationError).issues.join(' ')).toContain('data.version');
      expect((e as EventValidationError).issues.join(' ')).not.toContain('nope');
    }
  });

  it('refuses unknown types, non-JSON, a wrong specversion and a subject that is not the leadId', () => {
    const ok = createEvent('twin.deleted.v1', {
      leadId: 'x',
      version: saved.version,
      deletedAt: saved.savedAt,
    });
    expect(() => decodeEvent(JSON.stringify({ ...ok, type: 'twin.exploded.v1' }))).toThrow(
      EventValidationError,
    );
    expect(() => decodeEvent('{')).toThrow(EventValidationError);
    expect(() => decodeEvent(JSON.stringify({ ...ok, specversion: '0.3' }))).toThrow(EventValidationError);
    expect(() => decodeEvent(JSON.stringify({ ...ok, subject: 'y' }))).toThrow(EventValidationError);
  });

  it('cannot be created with invalid data', () => {
    expect(() => createEvent('twin.accessed.v1', { leadId: '../x', accessedAt: saved.savedAt })).toThrow(
      EventValidationError,
    );
  });
});

describe('AsyncAPI document', () => {
  it('describes every event type on the twin-events channel with a JSON schema', () => {
    const doc = buildAsyncApiDocument() as {
      asyncapi: string;
      channels: Record<string, { messages: Record<string, unknown> }>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(doc.asyncapi).toBe('3.0.0');
    expect(Object.keys(doc.channels['twin-events'].messages)).toHaveLength(EVENT_TYPES.length);
    expect(Object.keys(doc.components.schemas.twin_saved_v1.properties ?? {})).toEqual(
      expect.arrayContaining(['leadId', 'version', 'blobPath', 'metadata', 'markdown']),
    );
  });
});
