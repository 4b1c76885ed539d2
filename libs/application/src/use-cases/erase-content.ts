import { ContentStore, PreconditionFailedError } from '../ports';

/**
 * Delete content blobs whose version is older than `before` (a newer one belongs to a later write and stays).
 * Conditional on the etag read, so a concurrent newer write of the same day-blob is never erased.
 */
export async function eraseContent(content: ContentStore, paths: string[], before: string): Promise<void> {
  await Promise.all(
    paths.map(async (path) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const props = await content.head(path);
        if (!props || (props.metadata.version ?? '') >= before) return;
        try {
          await content.delete(path, { ifMatch: props.etag });
          return;
        } catch (e) {
          if (!(e instanceof PreconditionFailedError)) throw e;
        }
      }
    }),
  );
}
