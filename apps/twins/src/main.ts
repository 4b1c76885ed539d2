import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { SERVICES, ServiceName, startCommand } from './commands/start.command';
import { statusCommand } from './commands/status.command';
import { loadCommand } from './commands/load.command';
import { benchCommand } from './commands/bench.command';
import { DlqAction, dlqCommand, DlqUsageError } from './commands/dlq.command';
import { reindexCommand } from './commands/reindex.command';
import { reconcileCommand } from './commands/reconcile.command';
import { KeysAction, keysCommand, KeysUsageError } from './commands/keys.command';
import { auditCommand, AuditUsageError } from './commands/audit.command';
import { COST_USAGE, costCommand } from './commands/cost.command';

const USAGE = `usage: twins <command> [options]

commands:
  start [all|ingest-api|writer|indexer|cache-warmer|tiering]   run services (default: all, in one process)
  load --count N [--concurrency 32] [--url http://127.0.0.1:8080] [--seed 1] [--batch 0] [--verify]
       [--api-key KEY (default TWINS_API_KEY)]
                                                              post N synthetic personas through the HTTP API
  status [--json]                                             backlog and dead letters per subscription, store counts
  dlq list|show|redrive|purge [--subscription NAME] [--id ID]... [--limit N] [--json] [--yes]
                                                              dead-letter queues of the subscriptions
  bench [--count 10000] [--concurrency 16] [--batch 100 | --single] [--queries 100] [--dir TMPDIR]
                                                              end-to-end ingest vs raw contentless FTS5, search
                                                              p50/p95/p99 per query class, disk written, peak RSS
  reindex [--dry-run] [--concurrency 16] [--json]             rebuild catalog, pointers, search index and tiering
                                                              records from the blob store alone
  reconcile [--since-hours 48] [--grace-seconds 300] [--batch 100] [--dry-run] [--json]
                                                              publish versions accepted but never announced
  keys create --scopes twins:write,twins:read,search,admin [--name NAME] [--json]
  keys list [--json] | keys revoke KEY_ID                     API keys of the HTTP API (a key is shown once)
  audit [--since ISO] [--lead LEAD_ID] [--limit 100] [--json]
                                                              erasure records, oldest first (leads appear as hashes)
  cost estimate|report|prices|simulate ...                    Azure cost: estimate, live report, prices, tiering
${COST_USAGE}

configuration comes from TWINS_* environment variables (see README).`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start': {
      const service = (rest[0] ?? 'all') as ServiceName;
      if (!SERVICES.includes(service)) return usage(`unknown service ${rest[0]}`);
      await startCommand(service);
      return -1; // keep running
    }
    case 'load': {
      const { values } = parseArgs({
        args: rest,
        options: {
          count: { type: 'string' },
          concurrency: { type: 'string', default: '32' },
          url: { type: 'string', default: `http://127.0.0.1:${process.env.TWINS_PORT ?? '8080'}` },
          seed: { type: 'string', default: '1' },
          batch: { type: 'string', default: '0' },
          verify: { type: 'boolean', default: false },
          'api-key': { type: 'string' },
        },
      });
      const count = Number(values.count);
      if (!Number.isInteger(count) || count < 1) return usage('--count must be a positive integer');
      const summary = await loadCommand({
        baseUrl: values.url!,
        count,
        concurrency: Number(values.concurrency),
        seed: Number(values.seed),
        batchSize: Number(values.batch),
        verify: values.verify,
        keepVersions: false,
        apiKey: values['api-key'] ?? process.env.TWINS_API_KEY,
        progress: true,
      });
      return summary.failed === 0 ? 0 : 1;
    }
    case 'status': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
      await statusCommand({ json: values.json! });
      return 0;
    }
    case 'dlq': {
      const [action, ...flags] = rest;
      if (!['list', 'show', 'redrive', 'purge'].includes(action))
        return usage('dlq needs list, show, redrive or purge');
      const { values } = parseArgs({
        args: flags,
        options: {
          subscription: { type: 'string' },
          id: { type: 'string', multiple: true },
          limit: { type: 'string' },
          json: { type: 'boolean', default: false },
          yes: { type: 'boolean', default: false },
        },
      });
      try {
        return await dlqCommand({
          action: action as DlqAction,
          subscription: values.subscription,
          messageIds: values.id,
          limit: values.limit ? Number(values.limit) : undefined,
          json: values.json,
          yes: values.yes,
        });
      } catch (e) {
        if (e instanceof DlqUsageError) return usage(e.message);
        throw e;
      }
    }
    case 'bench': {
      const { values } = parseArgs({
        args: rest,
        options: {
          count: { type: 'string', default: '10000' },
          concurrency: { type: 'string', default: '16' },
          batch: { type: 'string', default: '100' },
          single: { type: 'boolean', default: false },
          queries: { type: 'string', default: '100' },
          dir: { type: 'string' },
        },
      });
      await benchCommand({
        count: Number(values.count),
        concurrency: Number(values.concurrency),
        batchSize: values.single ? 0 : Number(values.batch),
        queries: Number(values.queries),
        dir: values.dir,
      });
      return 0;
    }
    case 'reindex': {
      const { values } = parseArgs({
        args: rest,
        options: {
          'dry-run': { type: 'boolean', default: false },
          concurrency: { type: 'string', default: '16' },
          json: { type: 'boolean', default: false },
        },
      });
      const concurrency = Number(values.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1)
        return usage('--concurrency must be a positive integer');
      const { code } = await reindexCommand({
        dryRun: values['dry-run'],
        concurrency,
        json: values.json,
        progress: !values.json,
      });
      return code;
    }
    case 'cost':
      return costCommand(rest);
    case 'reconcile': {
      const { values } = parseArgs({
        args: rest,
        options: {
          'since-hours': { type: 'string', default: '48' },
          'grace-seconds': { type: 'string', default: '300' },
          batch: { type: 'string', default: '100' },
          'dry-run': { type: 'boolean', default: false },
          json: { type: 'boolean', default: false },
        },
      });
      const [sinceHours, graceSeconds, batchSize] = [
        values['since-hours'],
        values['grace-seconds'],
        values.batch,
      ].map(Number);
      if (!(sinceHours > 0)) return usage('--since-hours must be a positive number');
      if (!(graceSeconds >= 0)) return usage('--grace-seconds must be a number >= 0');
      if (!Number.isInteger(batchSize) || batchSize < 1) return usage('--batch must be a positive integer');
      const { code } = await reconcileCommand({
        sinceHours,
        graceSeconds,
        batchSize,
        dryRun: values['dry-run'],
        json: values.json,
        progress: !values.json,
      });
      return code;
    }
    case 'keys': {
      const [action, ...flags] = rest;
      if (!['create', 'list', 'revoke'].includes(action)) return usage('keys needs create, list or revoke');
      const { values, positionals } = parseArgs({
        args: flags,
        allowPositionals: true,
        options: {
          scopes: { type: 'string' },
          name: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
      });
      try {
        return await keysCommand({
          action: action as KeysAction,
          scopes: values.scopes,
          name: values.name,
          keyId: positionals[0],
          json: values.json,
        });
      } catch (e) {
        if (e instanceof KeysUsageError) return usage(e.message);
        throw e;
      }
    }
    case 'audit': {
      const { values } = parseArgs({
        args: rest,
        options: {
          since: { type: 'string' },
          lead: { type: 'string' },
          limit: { type: 'string', default: '100' },
          json: { type: 'boolean', default: false },
        },
      });
      try {
        return await auditCommand({
          since: values.since,
          lead: values.lead,
          limit: Number(values.limit),
          json: values.json,
        });
      } catch (e) {
        if (e instanceof AuditUsageError) return usage(e.message);
        throw e;
      }
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      return usage(`unknown command ${command}`);
  }
}

function usage(problem: string): number {
  process.stderr.write(`${problem}\n\n${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`twins: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
