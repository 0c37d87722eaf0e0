import { z } from 'zod';
import type { ApiRoute, RouteParameter } from './api-routes';

// The OpenAPI 3.1 document, built from the route list and the zod schemas the routes validate
// with: request bodies and list queries are never written twice. OpenAPI 3.1 schemas are
// JSON Schema 2020-12, which is what zod emits.

type Json = Record<string, unknown>;

const ERROR_ENVELOPE: Json = {
  type: 'object',
  description: "OpenAI's error envelope; `param` names the field at fault.",
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['message', 'type', 'param', 'code'],
      properties: {
        message: { type: 'string' },
        type: { type: 'string' },
        param: { type: ['string', 'null'] },
        code: { type: ['string', 'null'] },
      },
    },
  },
};

/** Answers described once, referred to by name from the route list. */
const ANSWER_SCHEMAS: Record<string, Json> = {
  Response: {
    type: 'object',
    description:
      "A Response object as in OpenAI's Responses API: id, status, output items (messages, reasoning, function calls for client-side tools, mcp_call and mcp_list_tools items for the calls ratchet ran), usage, error.",
    required: ['id', 'object', 'status', 'output'],
    properties: {
      id: { type: 'string' },
      object: { const: 'response' },
      status: {
        enum: ['queued', 'in_progress', 'completed', 'failed', 'cancelled', 'incomplete'],
      },
      output: { type: 'array', items: { type: 'object' } },
    },
  },
  ItemList: {
    type: 'object',
    required: ['object', 'data', 'has_more', 'first_id', 'last_id'],
    properties: {
      object: { const: 'list' },
      data: { type: 'array', items: { type: 'object' } },
      has_more: { type: 'boolean' },
      first_id: { type: ['string', 'null'] },
      last_id: { type: ['string', 'null'] },
    },
  },
  Object: { type: 'object' },
  Error: ERROR_ENVELOPE,
};

/** A zod schema as JSON Schema for what a client sends (defaults optional, inputs before transforms). */
export function requestJsonSchema(schema: z.ZodType): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  }) as Json;
  return rest;
}

function queryParameters(query: z.ZodObject): Json[] {
  const schema = requestJsonSchema(query);
  const properties = (schema.properties ?? {}) as Record<string, Json>;
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: 'query',
    required: false,
    schema: property,
  }));
}

function parameter(p: RouteParameter): Json {
  return {
    name: p.name,
    in: p.in,
    description: p.description,
    required: p.in === 'path' ? true : (p.required ?? false),
    schema: p.schema,
  };
}

function errorAnswer(description: string): Json {
  return {
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
}

function operation(route: ApiRoute): Json {
  const { answer } = route;
  const content: Json = {};
  if (answer.html) content['text/html'] = { schema: { type: 'string' } };
  if (answer.text) content['text/plain'] = { schema: { type: 'string' } };
  if (answer.schema) {
    content['application/json'] = { schema: { $ref: `#/components/schemas/${answer.schema}` } };
  }
  if (answer.stream) {
    content['text/event-stream'] = {
      schema: { type: 'string' },
      description:
        'Server-sent events, `event:` equal to `data.type`, each with a gap-free `sequence_number`, ending with `data: [DONE]`.',
    };
  }
  const responses: Json = { [String(answer.status)]: { description: answer.description, content } };
  if (route.body || route.query || route.parameters?.some((p) => p.in !== 'path')) {
    responses['400'] = errorAnswer('The request is invalid; `param` names the field.');
  }
  if (route.auth) {
    responses['401'] = errorAnswer('No key, or a key ratchet does not know.');
    if (route.path.includes('{')) {
      responses['404'] = errorAnswer('Nothing with that id for this key.');
    }
  }
  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.auth ? {} : { security: [] }),
    parameters: [
      ...(route.parameters ?? []).map(parameter),
      ...(route.query ? queryParameters(route.query) : []),
    ],
    ...(route.body
      ? {
          requestBody: {
            required: route.body.required ?? true,
            content: {
              'application/json': {
                schema: { $ref: `#/components/schemas/${route.body.name}` },
                example: route.body.example,
              },
            },
          },
        }
      : {}),
    responses,
  };
}

export function buildOpenApiDocument(routes: readonly ApiRoute[], version: string): Json {
  const paths: Record<string, Json> = {};
  const schemas: Record<string, Json> = { ...ANSWER_SCHEMAS };
  for (const route of routes) {
    paths[route.path] = { ...paths[route.path], [route.method]: operation(route) };
    if (route.body) schemas[route.body.name] = requestJsonSchema(route.body.schema);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'ratchet',
      version,
      description:
        "A durable agent runtime behind OpenAI's Responses API. Every route but the health checks and this reference needs `Authorization: Bearer <key>`; another tenant's resources answer 404. WebSocket mode: `GET /v1/responses` with `Upgrade: websocket`.",
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    tags: [
      { name: 'Responses' },
      { name: 'Conversations' },
      { name: 'Models' },
      { name: 'Admin', description: 'Operator controls; admin keys only.' },
      { name: 'Console' },
      { name: 'Health' },
      { name: 'Reference' },
    ],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas,
    },
  };
}
