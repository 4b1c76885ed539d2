import { describeApiKeyStoreContract } from '@twinstore/testing';
import { InMemoryApiKeyStore } from './in-memory-api-key-store';

describeApiKeyStoreContract('InMemoryApiKeyStore (test double)', async () => {
  const subject = new InMemoryApiKeyStore();
  return {
    subject,
    sibling: async () => new InMemoryApiKeyStore(subject.records),
    cleanup: async () => {},
  };
});
