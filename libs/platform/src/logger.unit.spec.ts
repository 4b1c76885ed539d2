import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';

describe('createLogger redaction', () => {
  it('censors credentials in request headers and apiKey fields', async () => {
    let text = '';
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString('utf8');
        done();
      },
    });
    const logger = createLogger({ level: 'info', service: 'redact', destination });
    logger.info(
      {
        req: { headers: { authorization: 'Bearer tws_SECRET-A', 'x-api-key': 'tws_SECRET-B' } },
        headers: { authorization: 'Bearer SECRET-C', 'x-api-key': 'SECRET-D' },
        apiKey: 'SECRET-E',
        options: { apiKey: 'SECRET-F' },
      },
      'request',
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(text).toContain('[redacted]');
    expect(text).not.toMatch(/SECRET-[A-F]/);
  });
});
