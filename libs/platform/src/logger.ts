import pino, { Logger } from 'pino';

/**
 * Structured JSON logs. Personal data must never be logged; as a second line of defence any field with a
 * personal-data name is censored wherever it appears.
 */
export const REDACTED_FIELDS = ['markdown', 'body', 'metadata', 'age', 'income', 'location', 'tags', 'extra'];

export function createLogger(options: {
  level: string;
  service: string;
  destination?: pino.DestinationStream;
}): Logger {
  const paths = REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]);
  return pino(
    {
      level: options.level,
      base: { service: options.service, pid: process.pid },
      redact: {
        paths: [
          ...paths,
          'req.headers.authorization',
          'headers.authorization',
          'req.headers["x-api-key"]',
          'headers["x-api-key"]',
          'apiKey',
          '*.apiKey',
        ],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 2, sync: false }),
  );
}
