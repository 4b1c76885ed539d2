import { TableClient, TableServiceClientOptions } from '@azure/data-tables';
import { DefaultAzureCredential, TokenCredential } from '@azure/identity';

/** How a table adapter reaches its table: a connection string, or an endpoint with a credential. */
export interface TableConnectionOptions {
  /** Account key or SAS connection string (Azurite's included). Takes precedence over endpoint. */
  connectionString?: string;
  /** `https://{account}.table.core.windows.net`, used with `credential` (DefaultAzureCredential when absent). */
  endpoint?: string;
  credential?: TokenCredential;
  clientOptions?: TableServiceClientOptions;
}

/** A TableClient for `tableName` from connection options (`what` names the caller in the error). */
export function createTableClient(
  options: TableConnectionOptions,
  tableName: string,
  what: string,
): TableClient {
  if (options.connectionString) {
    return TableClient.fromConnectionString(options.connectionString, tableName, {
      // Shared-key signing over plain http is refused by default; a connection string that names an http
      // endpoint (Azurite) is an explicit choice.
      allowInsecureConnection: /TableEndpoint=http:/i.test(options.connectionString),
      ...options.clientOptions,
    });
  }
  if (options.endpoint) {
    return new TableClient(
      options.endpoint,
      tableName,
      options.credential ?? new DefaultAzureCredential(),
      options.clientOptions,
    );
  }
  throw new Error(`${what} needs a connectionString or an endpoint`);
}
