import { describe } from 'vitest';
import { randomBytes } from 'node:crypto';
import { AzureKeyCredential, SearchIndexClient } from '@azure/search-documents';
import { SearchIndex } from '@twinstore/application';
import { describeSearchIndexContract } from '@twinstore/testing';
import { createAzureSearchIndex } from './azure-search-index.adapter';

/**
 * The contract against a real Azure AI Search service, when one is configured:
 *   TWINS_LIVE_SEARCH_ENDPOINT=https://<service>.search.windows.net TWINS_LIVE_SEARCH_KEY=<admin key>
 * Each test creates its own index (`twinstore-live-<random>`) and deletes it. Writes become visible to
 * queries after the service's refresh (about a second), so every write is followed by a pause
 * (TWINS_LIVE_SEARCH_SETTLE_MS, default 2000) before the contract reads.
 */
const endpoint = process.env['TWINS_LIVE_SEARCH_ENDPOINT'];
const apiKey = process.env['TWINS_LIVE_SEARCH_KEY'];
const settleMs = Number(process.env['TWINS_LIVE_SEARCH_SETTLE_MS'] ?? 2000);
const live = Boolean(endpoint && apiKey);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The adapter, with a pause after each write so the contract's immediate reads see it. */
function settling(subject: SearchIndex): SearchIndex {
  return {
    upsert: async (documents) => {
      const result = await subject.upsert(documents);
      await sleep(settleMs);
      return result;
    },
    remove: async (leadId, version) => {
      const result = await subject.remove(leadId, version);
      await sleep(settleMs);
      return result;
    },
    search: (query) => subject.search(query),
    version: (leadId) => subject.version(leadId),
    count: () => subject.count(),
    close: () => subject.close(),
  };
}

describe.skipIf(!live)(
  'AzureSearchIndex live (needs TWINS_LIVE_SEARCH_ENDPOINT and TWINS_LIVE_SEARCH_KEY)',
  () => {
    describeSearchIndexContract('AzureSearchIndex (live Azure AI Search)', async () => {
      const indexName = `twinstore-live-${randomBytes(5).toString('hex')}`;
      // Plain http only ever means a local stand-in (handy to dry-run this file); Azure is always https.
      const allowInsecureConnection = endpoint!.startsWith('http://');
      const admin = new SearchIndexClient(endpoint!, new AzureKeyCredential(apiKey!), {
        allowInsecureConnection,
      });
      const subject = createAzureSearchIndex({
        endpoint: endpoint!,
        apiKey: apiKey!,
        indexName,
        allowInsecureConnection,
      });
      await subject.ensureIndex();
      return {
        subject: settling(subject),
        cleanup: async () => {
          await subject.close();
          await admin.deleteIndex(indexName);
        },
      };
    });
  },
);
