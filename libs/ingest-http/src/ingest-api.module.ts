import { DynamicModule, Module, Type } from '@nestjs/common';
import type { TwinsRuntime } from '@twinstore/platform';
import { DocsController } from './docs/docs.controller';
import { OpenApiHolder } from './docs/openapi';
import { OPENAPI_DOCUMENT, TWINS_RUNTIME } from './ingest-api.tokens';
import { HealthController } from './ops/health.controller';
import { MetricsController } from './ops/metrics.controller';
import { SearchController } from './search/search.controller';
import { BatchController } from './twins/batch.controller';
import { RehydrationController } from './twins/rehydration.controller';
import { TwinsController } from './twins/twins.controller';

/** The ingest API: every controller gets the runtime (use cases, logger, metrics) through one token. */
@Module({})
export class IngestApiModule {
  static forRuntime(runtime: TwinsRuntime, openapi: OpenApiHolder): DynamicModule {
    const controllers: Type<unknown>[] = [
      BatchController,
      TwinsController,
      RehydrationController,
      SearchController,
      HealthController,
    ];
    if (runtime.config.metricsEnabled) controllers.push(MetricsController);
    if (runtime.config.docsEnabled) controllers.push(DocsController);
    return {
      module: IngestApiModule,
      controllers,
      providers: [
        { provide: TWINS_RUNTIME, useValue: runtime },
        { provide: OPENAPI_DOCUMENT, useValue: openapi },
      ],
    };
  }
}
