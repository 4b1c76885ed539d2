import { DomainError, documentFromJson, parseLeadId, TwinDocument } from '@twinstore/domain';
import type { SaveTwinUseCase } from '@twinstore/application';
import { backendBusy } from '../http/back-pressure';
import { problem, Problem, ProblemError } from '../http/problem';

export interface BatchItemResult {
  /** Position of the item in the request. */
  index: number;
  /** The item's leadId as sent (when it was a string), so results can be matched even for bad ids. */
  leadId: string | null;
  /** 202 when saved, else the status of `problem` (400 invalid, 413 item too large, 500 failed). */
  status: number;
  version?: string;
  problem?: Problem;
}

interface ValidItem {
  index: number;
  leadId: string;
  document: TwinDocument;
}

export interface SaveBatchOptions {
  save: SaveTwinUseCase;
  /** Largest markdown accepted per item (the single-twin body limit). */
  maxItemBytes: number;
  traceparent?: string;
  instance: string;
  /** Called for an unexpected failure of one item; the item answers 500 with this correlation id. */
  onError: (error: unknown, index: number) => string;
}

/** The `items` array of a batch body, or a 400 problem. */
export function batchItems(body: unknown): unknown[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ProblemError('BATCH.INVALID_REQUEST', 'body must be a JSON object { "items": [...] }');
  }
  const { items, ...rest } = body as Record<string, unknown>;
  const unknownKeys = Object.keys(rest);
  if (unknownKeys.length > 0) {
    throw new ProblemError('BATCH.INVALID_REQUEST', 'body has unknown fields', {
      errors: unknownKeys.slice(0, 20).map((k) => ({ path: k.slice(0, 64), message: 'unknown field' })),
    });
  }
  if (!Array.isArray(items)) {
    throw new ProblemError('BATCH.INVALID_REQUEST', '"items" must be an array', {
      errors: [{ path: 'items', message: 'expected an array' }],
    });
  }
  return items;
}

/**
 * Every item is validated first; the valid items are then saved as one group (SaveTwinUseCase.executeMany:
 * their blobs written together, their events published in one call). Items of the same lead are saved one
 * after the other in request order, so the last one in the batch is the newest version. An invalid or failing
 * item never prevents the others.
 */
export async function saveBatch(items: unknown[], options: SaveBatchOptions): Promise<BatchItemResult[]> {
  const results: BatchItemResult[] = new Array(items.length);
  const valid: ValidItem[] = [];
  items.forEach((raw, index) => {
    const leadId =
      typeof raw === 'object' && raw !== null && typeof (raw as { leadId?: unknown }).leadId === 'string'
        ? (raw as { leadId: string }).leadId.slice(0, 256)
        : null;
    try {
      valid.push(validateItem(raw, index, options.maxItemBytes));
    } catch (e) {
      results[index] = { index, leadId, ...itemProblem(e, index, options) };
    }
  });
  if (valid.length === 0) return results;

  const saved = await options.save.executeMany(
    valid.map((item) => ({ leadId: item.leadId, document: item.document, traceparent: options.traceparent })),
  );
  valid.forEach((item, i) => {
    const outcome = saved[i];
    results[item.index] =
      outcome instanceof Error
        ? { index: item.index, leadId: item.leadId, ...itemProblem(outcome, item.index, options) }
        : { index: item.index, leadId: item.leadId, status: 202, version: outcome.version };
  });
  return results;
}

function validateItem(raw: unknown, index: number, maxItemBytes: number): ValidItem {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new DomainError(
      'TWIN.INVALID_DOCUMENT',
      'an item must be an object { leadId, markdown, metadata }',
    );
  }
  const { leadId: rawLeadId, ...document } = raw as Record<string, unknown>;
  const leadId = parseLeadId(rawLeadId);
  if (typeof document.markdown === 'string' && Buffer.byteLength(document.markdown) > maxItemBytes) {
    throw new ProblemError('HTTP.CONTENT_TOO_LARGE', `markdown exceeds ${maxItemBytes} bytes`);
  }
  return { index, leadId, document: documentFromJson(document) };
}

function itemProblem(
  e: unknown,
  index: number,
  options: SaveBatchOptions,
): Pick<BatchItemResult, 'status' | 'problem'> {
  const at = `${options.instance}#/items/${index}`;
  if (e instanceof DomainError) {
    const p = problem(e.code, e.message, { instance: at, errors: e.details });
    return { status: p.status, problem: p };
  }
  if (e instanceof ProblemError) {
    const p = problem(e.code, e.detail, { instance: at, errors: e.options.errors });
    return { status: p.status, problem: p };
  }
  if (backendBusy(e)) {
    // saturation, not a fault: resend this item later
    const p = problem('HTTP.BACKEND_BUSY', 'the service is busy; resend this item later', { instance: at });
    return { status: p.status, problem: p };
  }
  const correlationId = options.onError(e, index);
  return {
    status: 500,
    problem: problem('HTTP.INTERNAL', 'the item could not be saved; retry it later', {
      instance: at,
      correlationId,
    }),
  };
}
