import { TwinSavedV1 } from '@twinstore/contracts';
import { ContentStore } from '../ports';

/**
 * The markdown of a saved event: inline when small, else the claim check. A claim-checked day-blob may
 * already hold a newer version of the same day; then this event is superseded (`null`).
 */
export async function loadMarkdown(
  content: ContentStore,
  data: TwinSavedV1,
): Promise<string | null | 'missing'> {
  if (data.markdown !== undefined) return data.markdown;
  const blob = await content.get(data.blobPath);
  if (!blob) return 'missing';
  const version = blob.properties.metadata.version ?? '';
  if (version > data.version) return null;
  if (version < data.version) return 'missing';
  return blob.body.toString('utf8');
}
