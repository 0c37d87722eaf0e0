import {
  addConversationItemsSchema,
  compactRequestSchema,
  createConversationSchema,
  createResponseSchema,
  updateConversationSchema,
} from '@ratchet/core';
import type { z } from 'zod';
import {
  auditQuerySchema,
  overviewQuerySchema,
  purgeSchema,
  responseFilterSchema,
  stuckQuerySchema,
} from '../admin/admin.schemas';
import { responseListQuerySchema } from '../console/response-list.query';
import { inputItemsQuerySchema } from '../responses/input-items.query';

// Every HTTP route the API serves, as the OpenAPI document describes it. Request bodies and
// the list query are the zod schemas the routes validate with; test/openapi.e2e-spec.ts
// checks that this list and the app's routes are the same, and that every example validates.

export type HttpMethod = 'get' | 'post' | 'delete';

export interface RouteParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  description: string;
  required?: boolean;
  schema: Record<string, unknown>;
}

export interface ApiRoute {
  method: HttpMethod;
  /** OpenAPI style: `/v1/responses/{id}`. */
  path: string;
  operationId: string;
  /** Admin routes answer tenant keys as an unknown route would (404). */
  tag: 'Responses' | 'Conversations' | 'Models' | 'Admin' | 'Console' | 'Health' | 'Reference';
  summary: string;
  /** Needs `Authorization: Bearer <key>`. */
  auth: boolean;
  parameters?: RouteParameter[];
  /** A query whose parameters are the keys of this zod object. */
  query?: z.ZodObject;
  body?: { name: string; schema: z.ZodType; example: unknown; required?: boolean };
  /** What a 2xx answer is. */
  answer: {
    status: number;
    description: string;
    schema?: string;
    stream?: boolean;
    html?: boolean;
    /** Plain text (Prometheus' exposition format). */
    text?: boolean;
  };
}

const ID = (what: string): RouteParameter => ({
  name: 'id',
  in: 'path',
  required: true,
  description: `The ${what}'s id.`,
  schema: { type: 'string' },
});
const ITEM_ID: RouteParameter = {
  name: 'itemId',
  in: 'path',
  required: true,
  description: "The item's id.",
  schema: { type: 'string' },
};

export const API_ROUTES: readonly ApiRoute[] = [
  {
    method: 'post',
    path: '/v1/responses',
    operationId: 'createResponse',
    tag: 'Responses',
    summary:
      'Creates a response and drives it through its steps: model calls, server-side tools and sub-agents. Foreground by default (the call returns when it ends); `background: true` returns at once; `stream: true` answers with server-sent events.',
    auth: true,
    parameters: [
      {
        name: 'Idempotency-Key',
        in: 'header',
        description:
          'A retry with the same key and body gets the response the first request created (`Idempotent-Replayed: true`).',
        schema: { type: 'string', maxLength: 255 },
      },
      {
        name: 'OpenResponses-Version',
        in: 'header',
        description:
          "Streams Open Responses' event names (`response.reasoning.*`) instead of OpenAI's.",
        schema: { type: 'string' },
      },
    ],
    body: {
      name: 'CreateResponseRequest',
      schema: createResponseSchema,
      example: {
        model: 'mock',
        input: '/call researcher {"input": "What is ratchet?"}',
        tools: [{ type: 'function', name: 'researcher' }],
        background: true,
      },
    },
    answer: {
      status: 200,
      description: 'The response, or its event stream.',
      schema: 'Response',
      stream: true,
    },
  },
  {
    method: 'post',
    path: '/v1/responses/compact',
    operationId: 'compactResponse',
    tag: 'Responses',
    summary:
      'Compacts a conversation into a sealed summary item that a later request can send as input.',
    auth: true,
    body: {
      name: 'CompactRequest',
      schema: compactRequestSchema,
      example: { model: 'mock', input: [{ role: 'user', content: 'Summarise our talk so far.' }] },
    },
    answer: { status: 200, description: 'The compacted output.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/responses/{id}',
    operationId: 'getResponse',
    tag: 'Responses',
    summary:
      'A response; with `stream=true`, its events from the start or after a cursor, then live until it ends.',
    auth: true,
    parameters: [
      ID('response'),
      {
        name: 'stream',
        in: 'query',
        description:
          'Replay the event log, then follow it live (responses created with `stream: true`).',
        schema: { type: 'string', enum: ['true', 'false'] },
      },
      {
        name: 'starting_after',
        in: 'query',
        description: 'With stream=true: only events with a larger `sequence_number`.',
        schema: { type: 'integer', minimum: -1 },
      },
      {
        name: 'Last-Event-ID',
        in: 'header',
        description: 'The cursor, when `starting_after` is not given (EventSource reconnects).',
        schema: { type: 'string' },
      },
    ],
    answer: {
      status: 200,
      description: 'The response, or its event stream.',
      schema: 'Response',
      stream: true,
    },
  },
  {
    method: 'post',
    path: '/v1/responses/{id}/cancel',
    operationId: 'cancelResponse',
    tag: 'Responses',
    summary:
      'Cancels a background response: every in-flight model and tool call in its tree is aborted.',
    auth: true,
    parameters: [ID('response')],
    answer: {
      status: 200,
      description: 'The response, cancelled (or as it ended).',
      schema: 'Response',
    },
  },
  {
    method: 'delete',
    path: '/v1/responses/{id}',
    operationId: 'deleteResponse',
    tag: 'Responses',
    summary: 'Deletes a response (cancelling it first if it runs).',
    auth: true,
    parameters: [ID('response')],
    answer: {
      status: 200,
      description: '`{id, object: "response", deleted: true}`.',
      schema: 'Object',
    },
  },
  {
    method: 'get',
    path: '/v1/responses/{id}/steps',
    operationId: 'getResponseSteps',
    tag: 'Responses',
    summary:
      "The response's tree of scopes and steps, with each step's worker, attempts and lease, and what an unfinished response waits for.",
    auth: true,
    parameters: [ID('response')],
    answer: { status: 200, description: 'The step tree.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/responses/{id}/input_items',
    operationId: 'listInputItems',
    tag: 'Responses',
    summary: 'The items the response read as input, paginated.',
    auth: true,
    parameters: [ID('response')],
    query: inputItemsQuerySchema,
    answer: { status: 200, description: 'A list of items.', schema: 'ItemList' },
  },
  {
    method: 'post',
    path: '/v1/conversations',
    operationId: 'createConversation',
    tag: 'Conversations',
    summary: 'Creates a conversation, optionally with items and metadata.',
    auth: true,
    body: {
      name: 'CreateConversationRequest',
      schema: createConversationSchema,
      required: false,
      example: {
        metadata: { topic: 'demo' },
        items: [{ type: 'message', role: 'user', content: 'Hello!' }],
      },
    },
    answer: { status: 200, description: 'The conversation.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/conversations/{id}',
    operationId: 'getConversation',
    tag: 'Conversations',
    summary: 'A conversation.',
    auth: true,
    parameters: [ID('conversation')],
    answer: { status: 200, description: 'The conversation.', schema: 'Object' },
  },
  {
    method: 'post',
    path: '/v1/conversations/{id}',
    operationId: 'updateConversation',
    tag: 'Conversations',
    summary: "Replaces a conversation's metadata.",
    auth: true,
    parameters: [ID('conversation')],
    body: {
      name: 'UpdateConversationRequest',
      schema: updateConversationSchema,
      example: { metadata: { topic: 'renamed' } },
    },
    answer: { status: 200, description: 'The conversation.', schema: 'Object' },
  },
  {
    method: 'delete',
    path: '/v1/conversations/{id}',
    operationId: 'deleteConversation',
    tag: 'Conversations',
    summary: 'Deletes a conversation and its items.',
    auth: true,
    parameters: [ID('conversation')],
    answer: {
      status: 200,
      description: '`{id, object: "conversation.deleted", deleted: true}`.',
      schema: 'Object',
    },
  },
  {
    method: 'get',
    path: '/v1/conversations/{id}/items',
    operationId: 'listConversationItems',
    tag: 'Conversations',
    summary: "A conversation's items, paginated.",
    auth: true,
    parameters: [ID('conversation')],
    query: inputItemsQuerySchema,
    answer: { status: 200, description: 'A list of items.', schema: 'ItemList' },
  },
  {
    method: 'post',
    path: '/v1/conversations/{id}/items',
    operationId: 'createConversationItems',
    tag: 'Conversations',
    summary: 'Appends items to a conversation.',
    auth: true,
    parameters: [ID('conversation')],
    body: {
      name: 'AddConversationItemsRequest',
      schema: addConversationItemsSchema,
      example: { items: [{ type: 'message', role: 'user', content: 'One more thing.' }] },
    },
    answer: { status: 200, description: 'The items added.', schema: 'ItemList' },
  },
  {
    method: 'get',
    path: '/v1/conversations/{id}/items/{itemId}',
    operationId: 'getConversationItem',
    tag: 'Conversations',
    summary: 'One item of a conversation.',
    auth: true,
    parameters: [ID('conversation'), ITEM_ID],
    answer: { status: 200, description: 'The item.', schema: 'Object' },
  },
  {
    method: 'delete',
    path: '/v1/conversations/{id}/items/{itemId}',
    operationId: 'deleteConversationItem',
    tag: 'Conversations',
    summary: 'Deletes one item of a conversation.',
    auth: true,
    parameters: [ID('conversation'), ITEM_ID],
    answer: { status: 200, description: 'The conversation.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/models',
    operationId: 'listModels',
    tag: 'Models',
    summary: 'The models of the config, as clients name them.',
    auth: true,
    answer: { status: 200, description: 'A list of models.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/models/{id}',
    operationId: 'getModel',
    tag: 'Models',
    summary: 'One model.',
    auth: true,
    parameters: [ID('model')],
    answer: { status: 200, description: 'The model.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/admin/stuck',
    operationId: 'adminListStuck',
    tag: 'Admin',
    summary:
      'Live responses that are not progressing, oldest first, each with why: `worker_gone`, `lease_expired`, `backing_off`, `queued_too_long`, `scope_not_advanced`.',
    auth: true,
    query: stuckQuerySchema,
    answer: { status: 200, description: 'A list of stuck responses.', schema: 'Object' },
  },
  {
    method: 'post',
    path: '/v1/admin/responses/requeue',
    operationId: 'adminRequeueResponses',
    tag: 'Admin',
    summary:
      'Queues again the idle work of the live responses a filter names, as the recovery sweeper does; steps a live worker holds are left alone. `dry_run` only lists them. Audited.',
    auth: true,
    body: {
      name: 'AdminResponseFilter',
      schema: responseFilterSchema,
      example: { stuck: true, status: ['in_progress'], dry_run: true },
    },
    answer: { status: 200, description: 'What matched and what was queued.', schema: 'Object' },
  },
  {
    method: 'post',
    path: '/v1/admin/responses/cancel',
    operationId: 'adminCancelResponses',
    tag: 'Admin',
    summary:
      'Cancels the live responses a filter names, each as `POST /v1/responses/{id}/cancel` would (in-flight calls aborted in every worker). `dry_run` only lists them. Audited.',
    auth: true,
    body: {
      name: 'AdminResponseFilter',
      schema: responseFilterSchema,
      example: { model: 'mock', created_before: '2026-12-01T00:00:00Z', dry_run: true },
    },
    answer: { status: 200, description: 'What matched and what was cancelled.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/admin/workers',
    operationId: 'adminListWorkers',
    tag: 'Admin',
    summary: 'Live worker processes, with their running steps and drain state.',
    auth: true,
    answer: { status: 200, description: 'A list of workers.', schema: 'Object' },
  },
  {
    method: 'post',
    path: '/v1/admin/workers/{id}/drain',
    operationId: 'adminDrainWorker',
    tag: 'Admin',
    summary:
      'Asks a worker to drain: it takes no new jobs, finishes its running ones, then shows `drained`. No body (or `{}`). Audited.',
    auth: true,
    parameters: [ID('worker')],
    answer: { status: 200, description: 'The worker, draining.', schema: 'Object' },
  },
  {
    method: 'post',
    path: '/v1/admin/purge',
    operationId: 'adminPurge',
    tag: 'Admin',
    summary:
      'Deletes terminal responses that ended longer ago than `older_than` (seconds, or `"30d"`, `"12h"`, `"90m"`, `"45s"`), with their steps, events and items; never a live one. `dry_run` only lists them. Audited.',
    auth: true,
    body: {
      name: 'AdminPurgeRequest',
      schema: purgeSchema,
      example: { older_than: '30d', dry_run: true },
    },
    answer: { status: 200, description: 'What was (or would be) deleted.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/admin/audit',
    operationId: 'adminListAudit',
    tag: 'Admin',
    summary: "Operators' actions, newest first: who, what, with which parameters, what it touched.",
    auth: true,
    query: auditQuerySchema,
    answer: { status: 200, description: 'A page of audit entries.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/admin/overview',
    operationId: 'adminOverview',
    tag: 'Admin',
    summary:
      'The operations view: queue depths, live workers with their in-flight steps and drain state, responses by status, recovery activity (latest runs, backlog) and upstream error rates over a recent window.',
    auth: true,
    query: overviewQuerySchema,
    answer: { status: 200, description: 'The overview.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/console/session',
    operationId: 'consoleSession',
    tag: 'Console',
    summary: 'Who the key is: its id, and whether it is the admin key.',
    auth: true,
    answer: { status: 200, description: '`{object, api_key, admin}`.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/console/responses',
    operationId: 'consoleListResponses',
    tag: 'Console',
    summary:
      "The key's stored responses (the admin key: everyone's), newest first, filtered by status, model, age, API key and metadata; paginated by cursor.",
    auth: true,
    query: responseListQuerySchema,
    answer: {
      status: 200,
      description: '`{object: "list", data, has_more, next_cursor}`.',
      schema: 'Object',
    },
  },
  {
    method: 'get',
    path: '/v1/console/responses/{id}',
    operationId: 'consoleGetResponse',
    tag: 'Console',
    summary:
      'A response with its whole tree: every scope and step with its timestamps, attempts, worker, lease, arguments, result and usage, and what it waits for.',
    auth: true,
    parameters: [ID('response')],
    answer: { status: 200, description: 'The response and its steps.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/v1/console/changes',
    operationId: 'consoleChanges',
    tag: 'Console',
    summary:
      'Server-sent events: `ready` once watching, then `changes` naming the responses of the key (the admin key: all) that were created, started or ended; for the admin key also `workers` naming workers whose drain state changed.',
    auth: true,
    answer: { status: 200, description: 'An event stream.', stream: true },
  },
  {
    method: 'get',
    path: '/v1/console/keys',
    operationId: 'consoleKeys',
    tag: 'Console',
    summary: 'Admin key only: the API keys (id, name, prefix), to filter responses by.',
    auth: true,
    answer: { status: 200, description: 'A list of keys.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/console',
    operationId: 'console',
    tag: 'Reference',
    summary: 'The web console: responses, their step trees and timelines, live; operations.',
    auth: false,
    answer: { status: 200, description: 'An HTML page.', html: true },
  },
  {
    method: 'get',
    path: '/console/assets/{file}',
    operationId: 'consoleAsset',
    tag: 'Reference',
    summary: "The console's script and style sheet.",
    auth: false,
    parameters: [
      {
        name: 'file',
        in: 'path',
        description: 'A file name the console page refers to.',
        schema: { type: 'string' },
      },
    ],
    answer: { status: 200, description: 'The file.' },
  },
  {
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    tag: 'Health',
    summary: 'Liveness: the process answers.',
    auth: false,
    answer: { status: 200, description: '`{status: "ok"}`.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'ready',
    tag: 'Health',
    summary: 'Readiness: Postgres and Redis answer too (503 when one does not).',
    auth: false,
    answer: { status: 200, description: '`{status, postgres, redis}`.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'Health',
    summary:
      "Prometheus metrics of this process (and of the worker it runs, if any); admin keys only, a tenant key gets the unknown route's 404.",
    auth: true,
    answer: { status: 200, description: 'The text exposition format.', text: true },
  },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    tag: 'Reference',
    summary: 'This document.',
    auth: false,
    answer: { status: 200, description: 'The OpenAPI 3.1 document.', schema: 'Object' },
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'docs',
    tag: 'Reference',
    summary: 'An interactive reference of this document.',
    auth: false,
    answer: { status: 200, description: 'An HTML page.', html: true },
  },
  {
    method: 'get',
    path: '/docs/{file}',
    operationId: 'docsAsset',
    tag: 'Reference',
    summary: "The reference page's script, style sheet and icon.",
    auth: false,
    parameters: [
      {
        name: 'file',
        in: 'path',
        description: 'swagger-ui-bundle.js, swagger-ui.css or favicon-32x32.png.',
        schema: { type: 'string' },
      },
    ],
    answer: { status: 200, description: 'The file.' },
  },
];
