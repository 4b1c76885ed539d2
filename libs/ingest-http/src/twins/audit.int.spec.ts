import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditSubject, issueApiKey, RunningSubscription } from '@twinstore/application';
import { createRuntime, loadConfig, startConsumer, TwinsRuntime } from '@twinstore/platform';
import { makeTempDir, TempDir, waitFor } from '@twinstore/testing';
import { RunningIngestApi, startIngestApi } from '../ingest-api';

const LEAD = 'audit-lead-Jane-Roe';
const MARKDOWN = '---\nclassification: hot\nage: 41\nincome: 87000\n---\n# Jane Roe\nSecretword pineapple.\n';

describe('DELETE writes an audit record without personal data (embedded runtime)', () => {
  let tmp: TempDir;
  let runtime: TwinsRuntime;
  let api: RunningIngestApi;
  let writer: RunningSubscription;

  beforeAll(async () => {
    tmp = await makeTempDir('audit-http');
    const config = loadConfig({ TWINS_DATA_DIR: tmp.dir, TWINS_PORT: '0', TWINS_LOG_LEVEL: 'silent' });
    runtime = await createRuntime(config, { service: 'audit-int' });
    api = await startIngestApi(runtime, { logger: false });
    writer = startConsumer(runtime, 'writer');
  });
  afterAll(async () => {
    await api?.close();
    await writer?.close(5000);
    await runtime?.close();
    await tmp?.cleanup();
  });

  it('records who erased which lead (hashed), when, and the deletion version', async () => {
    const { key, record: issued } = await issueApiKey(runtime.apiKeys, {
      name: 'erasure bot',
      scopes: ['twins:write'],
    });
    const headers = { authorization: `Bearer ${key}` };
    const put = await fetch(`${api.url}/v1/twins/${LEAD}`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'text/markdown' },
      body: MARKDOWN,
    });
    expect(put.status).toBe(202);
    await waitFor('the writer', () => runtime.catalog.get(LEAD));
    const del = await fetch(`${api.url}/v1/twins/${LEAD}`, {
      method: 'DELETE',
      headers: { ...headers, 'x-request-id': 'erase-req-1' },
    });
    expect(del.status).toBe(202);
    const { version } = (await del.json()) as { version: string };

    const records = await runtime.audit.list({ subject: auditSubject(LEAD) });
    expect(records).toEqual([
      {
        id: version,
        at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
        action: 'twin.erased',
        subject: auditSubject(LEAD),
        actor: `key:${issued.keyId}`,
        version,
        requestId: 'erase-req-1',
        details: { contentBlobs: 1 },
      },
    ]);

    // the file on disk holds no leadId, no markdown, no age or income
    const raw = readFileSync(join(tmp.dir, 'audit.db')).toString('latin1');
    const wal = (() => {
      try {
        return readFileSync(join(tmp.dir, 'audit.db-wal')).toString('latin1');
      } catch {
        return '';
      }
    })();
    for (const secret of [LEAD, 'Jane', 'pineapple', '87000', key]) {
      expect(raw + wal).not.toContain(secret);
    }
    expect(raw + wal).toContain(auditSubject(LEAD));
  });

  it('a refused DELETE (unknown twin) records nothing', async () => {
    const { key } = await issueApiKey(runtime.apiKeys, { name: 'x', scopes: ['admin'] });
    const before = (await runtime.audit.list()).length;
    const del = await fetch(`${api.url}/v1/twins/never-existed`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(del.status).toBe(404);
    expect(await runtime.audit.list()).toHaveLength(before);
  });
});

describe('DELETE right after the 202, before the writer projected the save (embedded runtime)', () => {
  let tmp: TempDir;
  let runtime: TwinsRuntime;
  let api: RunningIngestApi;

  beforeAll(async () => {
    tmp = await makeTempDir('delete-unprojected');
    const config = loadConfig({ TWINS_DATA_DIR: tmp.dir, TWINS_PORT: '0', TWINS_LOG_LEVEL: 'silent' });
    runtime = await createRuntime(config, { service: 'delete-int' });
    api = await startIngestApi(runtime, { logger: false });
  });
  afterAll(async () => {
    await api?.close();
    await runtime?.close();
    await tmp?.cleanup();
  });

  it('erases the accepted version, and the writer, arriving late, leaves nothing behind', async () => {
    const { key } = await issueApiKey(runtime.apiKeys, { name: 'w', scopes: ['twins:write', 'twins:read'] });
    const headers = { authorization: `Bearer ${key}` };
    const put = await fetch(`${api.url}/v1/twins/${LEAD}`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'text/markdown' },
      body: MARKDOWN,
    });
    expect(put.status).toBe(202);
    const del = await fetch(`${api.url}/v1/twins/${LEAD}`, { method: 'DELETE', headers });
    expect(del.status).toBe(202);
    const blobs = async () => {
      const names: string[] = [];
      for await (const b of runtime.content.list('')) names.push(b.path);
      return names;
    };
    expect(await blobs()).toEqual([]);

    const writer = startConsumer(runtime, 'writer');
    try {
      await waitFor('the writer to drain', async () => {
        const stats = await runtime.busAdmin.stats();
        return stats.find((s) => s.subscription === 'writer')?.active === 0;
      });
    } finally {
      await writer.close(5000);
    }
    expect(await runtime.catalog.get(LEAD)).toBeNull();
    expect(await blobs()).toEqual([]);
    const get = await fetch(`${api.url}/v1/twins/${LEAD}`, { headers });
    expect(get.status).toBe(404);
  });
});
