import { CONSUMER_NAMES, DeadLetteredMessage } from '@twinstore/application';
import { createRuntime, loadConfigOrExit, TwinsRuntime } from '@twinstore/platform';
import pino from 'pino';

export type DlqAction = 'list' | 'show' | 'redrive' | 'purge';

export interface DlqArgs {
  action: DlqAction;
  /** One subscription, or every one when absent (list only). */
  subscription?: string;
  messageIds?: string[];
  limit?: number;
  json?: boolean;
  /** purge drops messages for good: it must be confirmed. */
  yes?: boolean;
  out?: NodeJS.WritableStream;
}

export class DlqUsageError extends Error {}

/**
 * `twins dlq list|show|redrive|purge`: the dead-letter queues of the subscriptions, on whichever event bus
 * the configuration selects (the SQLite bus or Service Bus). Bodies are shown only by `show`, on request.
 */
export async function dlqCommand(args: DlqArgs): Promise<number> {
  const out = args.out ?? process.stdout;
  const subscriptions = args.subscription ? [args.subscription] : [...CONSUMER_NAMES];
  for (const s of subscriptions) {
    if (!(CONSUMER_NAMES as string[]).includes(s)) throw new DlqUsageError(`unknown subscription ${s}`);
  }
  if (args.action !== 'list' && !args.subscription)
    throw new DlqUsageError(`dlq ${args.action} needs --subscription`);
  if (args.action === 'show' && !args.messageIds?.length) throw new DlqUsageError('dlq show needs --id');
  if (args.action === 'purge' && !args.yes)
    throw new DlqUsageError('dlq purge drops messages for good: add --yes');

  const runtime = await createRuntime(loadConfigOrExit(), {
    service: 'twins-cli',
    logger: pino({ level: 'silent' }),
  });
  try {
    return await run(runtime, args, subscriptions, out);
  } finally {
    await runtime.close();
  }
}

async function run(
  runtime: TwinsRuntime,
  args: DlqArgs,
  subscriptions: string[],
  out: NodeJS.WritableStream,
): Promise<number> {
  const admin = runtime.busAdmin;
  switch (args.action) {
    case 'list': {
      const rows: DeadLetteredMessage[] = [];
      for (const s of subscriptions)
        rows.push(...(await admin.listDeadLetters(s, { limit: args.limit ?? 100 })));
      if (args.json) {
        out.write(
          `${JSON.stringify(
            rows.map(({ body: _body, ...meta }) => meta),
            null,
            2,
          )}\n`,
        );
      } else if (rows.length === 0) {
        out.write('no dead-lettered messages\n');
      } else {
        out.write(
          'subscription   message id                             deliveries  dead-lettered at          reason\n',
        );
        for (const r of rows) {
          out.write(
            `${r.subscription.padEnd(14)} ${r.messageId.padEnd(38)} ${String(r.deliveryCount).padStart(10)}  ` +
              `${r.deadLetteredAt.padEnd(24)}  ${r.reason}${r.description ? `: ${r.description}` : ''}\n`,
          );
        }
      }
      return 0;
    }
    case 'show': {
      const all = await admin.listDeadLetters(args.subscription!, { limit: 10_000 });
      const found = all.filter((m) => args.messageIds!.includes(m.messageId));
      if (found.length === 0) {
        process.stderr.write('no such dead-lettered message\n');
        return 1;
      }
      out.write(`${JSON.stringify(found, null, 2)}\n`);
      return 0;
    }
    case 'redrive': {
      const n = await admin.redrive(
        args.subscription!,
        args.messageIds?.length ? args.messageIds : undefined,
      );
      out.write(`redrove ${n} message(s) to ${args.subscription}\n`);
      return 0;
    }
    case 'purge': {
      const n = await admin.purgeDeadLetters(args.subscription!);
      out.write(`purged ${n} dead-lettered message(s) of ${args.subscription}\n`);
      return 0;
    }
  }
}
