/**
 * Azurite ships no typings for its server classes. Only the parts the test servers use are declared here;
 * the classes are loaded from `azurite/dist/src/...` because the package's main entry starts a CLI.
 */
declare module 'azurite/dist/src/blob/BlobServer' {
  export default class BlobServer {
    constructor(configuration: unknown);
    start(): Promise<void>;
    close(): Promise<void>;
    clean(): Promise<void>;
    getHttpServerAddress(): string;
  }
}

declare module 'azurite/dist/src/blob/BlobConfiguration' {
  export default class BlobConfiguration {
    constructor(...args: unknown[]);
  }
}

declare module 'azurite/dist/src/table/TableServer' {
  export default class TableServer {
    constructor(configuration: unknown);
    start(): Promise<void>;
    close(): Promise<void>;
    clean(): Promise<void>;
    getHttpServerAddress(): string;
  }
}

declare module 'azurite/dist/src/table/TableConfiguration' {
  export default class TableConfiguration {
    constructor(...args: unknown[]);
  }
}

declare module 'azurite/dist/src/common/persistence/MemoryExtentStore' {
  export class MemoryExtentChunkStore {
    constructor(sizeLimit: number);
  }
}

declare module 'azurite/dist/src/common/Telemetry' {
  export class AzuriteTelemetryClient {
    static enableTelemetry: boolean;
  }
}
