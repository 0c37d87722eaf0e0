import { Controller, Get, Header, Param, Res } from '@nestjs/common';
import { RatchetError } from '@ratchet/core';
import type { Response } from 'express';
import path from 'node:path';
import { Public } from '../auth/public.decorator';
import { API_ROUTES } from './api-routes';
import { buildOpenApiDocument } from './openapi-document';

/** The files of swagger-ui-dist the reference page loads, and their types. */
const ASSETS: Record<string, string> = {
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui.css': 'text/css; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const ASSET_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ratchet API reference</title>
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#reference', deepLinking: true, persistAuthorization: true });
</script>
</body>
</html>
`;

/** The OpenAPI document of the routes, and an interactive reference page for it. */
@Public()
@Controller()
export class OpenApiController {
  private readonly document = buildOpenApiDocument(API_ROUTES, 'v1');

  @Get('openapi.json')
  openapi(): Record<string, unknown> {
    return this.document;
  }

  @Get('docs')
  @Header('content-type', 'text/html; charset=utf-8')
  docs(): string {
    return DOCS_PAGE;
  }

  @Get('docs/:file')
  asset(@Param('file') file: string, @Res() response: Response): void {
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (!type) throw new RatchetError('not_found', `No file '${file}' in the API reference.`);
    response.setHeader('content-type', type);
    response.setHeader('cache-control', 'public, max-age=86400');
    response.sendFile(path.join(ASSET_DIR, file));
  }
}
