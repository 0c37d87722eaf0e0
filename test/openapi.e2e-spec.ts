import { API_ROUTES } from '../apps/api/src/openapi/api-routes';
import { startRatchet, type TestRatchet } from './support/ratchet';

// The OpenAPI document describes every route the API serves, from the schemas the routes
// validate with, and its examples are requests the API accepts.

let ratchet: TestRatchet;

beforeAll(async () => {
  ratchet = await startRatchet('openapi', { workers: 1 });
});

afterAll(async () => {
  await ratchet?.close();
});

interface OpenApiDocument {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      { requestBody?: { content: Record<string, { example: unknown; schema: { $ref: string } }> } }
    >
  >;
  components: { schemas: Record<string, Record<string, unknown>> };
}

async function fetchDocument(): Promise<OpenApiDocument> {
  const answer = await ratchet.request('/openapi.json', { key: null });
  expect(answer.status).toBe(200);
  return (await answer.json()) as OpenApiDocument;
}

/** The routes the app really serves, as `METHOD /path/{param}`. */
function servedRoutes(): string[] {
  const express = ratchet.api.getHttpAdapter().getInstance() as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  return express.router.stack.flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods)
          .filter((method) => method !== '_all')
          .map(
            (method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`,
          )
      : [],
  );
}

it('is OpenAPI 3.1, served without a key', async () => {
  const document = await fetchDocument();
  expect(document.openapi).toBe('3.1.0');
});

it('documents every route the app serves, and nothing else', async () => {
  const document = await fetchDocument();
  const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
  const served = servedRoutes();
  expect(served.length).toBeGreaterThan(15);
  expect([...documented].sort()).toEqual([...new Set(served)].sort());
});

it('takes request bodies from the schemas that validate them', async () => {
  const document = await fetchDocument();
  const create = document.components.schemas.CreateResponseRequest;
  const properties = create.properties as Record<string, unknown>;
  for (const field of ['model', 'input', 'tools', 'previous_response_id', 'background', 'stream']) {
    expect(properties).toHaveProperty(field);
  }
  // The schema is strict, as the route is: unknown fields are refused.
  expect(create.additionalProperties).toBe(false);
});

it('has examples that the API accepts', async () => {
  const document = await fetchDocument();
  const key = await ratchet.newKey();
  const conversation = (await (
    await ratchet.request('/v1/conversations', { key, method: 'POST', body: '{}' })
  ).json()) as { id: string };
  const withBody = API_ROUTES.filter((route) => route.body);
  expect(withBody.length).toBeGreaterThanOrEqual(5);
  for (const route of withBody) {
    const content =
      document.paths[route.path][route.method].requestBody!.content['application/json'];
    expect(content.example).toEqual(route.body!.example);
    // Each example also parses with the route's schema...
    expect(route.body!.schema.safeParse(content.example).success).toBe(true);
    // ...and the API serves it.
    // Admin routes are served to admin keys only (a tenant's key gets a 404).
    const answer = await ratchet.request(route.path.replace('{id}', conversation.id), {
      key: route.tag === 'Admin' ? ratchet.adminKey : key,
      method: route.method.toUpperCase(),
      body: JSON.stringify(content.example),
    });
    expect({ route: route.operationId, status: answer.status }).toEqual({
      route: route.operationId,
      status: route.answer.status,
    });
  }
});

it('serves an interactive reference page with its assets', async () => {
  const page = await ratchet.request('/docs', { key: null });
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await page.text();
  expect(html).toContain("url: '/openapi.json'");
  for (const [file, type] of [
    ['swagger-ui-bundle.js', /^text\/javascript/],
    ['swagger-ui.css', /^text\/css/],
    ['favicon-32x32.png', /^image\/png/],
  ] as const) {
    expect(html).toContain(`/docs/${file}`);
    const asset = await ratchet.request(`/docs/${file}`, { key: null });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(type);
    expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(100);
  }
  const missing = await ratchet.request('/docs/..%2Fpackage.json', { key: null });
  expect(missing.status).toBe(404);
  expect(await missing.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
});
