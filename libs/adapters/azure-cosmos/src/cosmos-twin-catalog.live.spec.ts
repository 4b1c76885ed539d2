import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { describeCatalogContract } from '@twinstore/testing';
import { createCosmosTwinCatalog } from './cosmos-twin-catalog.adapter';

/**
 * The contract against a real Cosmos DB (NoSQL) account, when one is configured:
 *   TWINS_LIVE_COSMOS_ENDPOINT=https://<account>.documents.azure.com:443/ TWINS_LIVE_COSMOS_KEY=<key>
 * Tests use the database `twinstore-live-tests` (TWINS_LIVE_COSMOS_DATABASE), each its own container,
 * deleted afterwards. On a provisioned (non-serverless) account every container is billed at least
 * 400 RU/s while it exists, so prefer a serverless account. Without the variables the suite is reported as
 * skipped, never as passed.
 */
const endpoint = process.env['TWINS_LIVE_COSMOS_ENDPOINT'];
const key = process.env['TWINS_LIVE_COSMOS_KEY'];
const database = process.env['TWINS_LIVE_COSMOS_DATABASE'] ?? 'twinstore-live-tests';

describe.skipIf(!(endpoint && key))(
  'CosmosTwinCatalog live (needs TWINS_LIVE_COSMOS_ENDPOINT and TWINS_LIVE_COSMOS_KEY)',
  () => {
    describeCatalogContract('Cosmos DB (live)', async () => {
      const catalog = createCosmosTwinCatalog({
        endpoint: endpoint!,
        key: key!,
        database,
        container: `twins-live-${randomBytes(6).toString('hex')}`,
        // Plain http only ever means a local stand-in (handy to dry-run this file); Azure is always https.
        connectionPolicy: endpoint!.startsWith('http://') ? { enableEndpointDiscovery: false } : undefined,
      });
      await catalog.ensureContainer();
      return {
        subject: catalog,
        cleanup: async () => {
          await catalog.container.delete();
          await catalog.close();
        },
      };
    });
  },
);
