import { TwinMetadata } from './metadata';
import { Version } from './version';

/** The projection record of a twin's current version (catalog row, index document, pointer). */
export interface TwinRecord {
  leadId: string;
  version: Version;
  blobPath: string;
  /** sha256 of the stored bytes, hex. */
  contentHash: string;
  size: number;
  savedAt: string;
  metadata: TwinMetadata;
}

/** The pointer blob `digital-twins/metadata/{leadId}.json`: the current record and the day-blob history. */
export interface TwinPointer extends TwinRecord {
  history: { version: Version; blobPath: string; savedAt: string; size: number }[];
}
