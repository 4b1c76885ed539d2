import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ProblemError } from '../http/problem';
import { OPENAPI_DOCUMENT } from '../ingest-api.tokens';
import { OpenApiHolder, renderDocsPage } from './openapi';

/** Registered only when `TWINS_DOCS_ENABLED` is on. */
@ApiTags('operations')
@Controller('docs')
export class DocsController {
  private page?: string;

  constructor(@Inject(OPENAPI_DOCUMENT) private readonly holder: OpenApiHolder) {}

  @Get('openapi.json')
  @ApiOperation({ operationId: 'openApiDocument', summary: 'This OpenAPI 3 document' })
  @ApiResponse({ status: 200, description: 'OpenAPI document', content: { 'application/json': {} } })
  openapi() {
    return this.document();
  }

  @Get()
  @ApiOperation({ operationId: 'docsPage', summary: 'A page listing every operation' })
  @ApiResponse({ status: 200, description: 'HTML', content: { 'text/html': {} } })
  docsPage(@Res() reply: FastifyReply) {
    this.page ??= renderDocsPage(this.document());
    return reply.code(200).type('text/html; charset=utf-8').send(this.page);
  }

  private document() {
    if (!this.holder.document) throw new ProblemError('HTTP.NOT_FOUND', 'the document is not built yet');
    return this.holder.document;
  }
}
