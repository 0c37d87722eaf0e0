import { Injectable } from '@nestjs/common';
import type {
  CreateResponseRequest,
  IncompleteDetails,
  Item,
  ResponseError,
  ResponseRecord,
  ResponseStatus,
  ScopeTools,
  Usage,
} from '@ratchet/core';
import type { Principal } from './api-keys.repository';
import type { Prisma } from './generated/prisma/client';
import { fromJson, toJson } from './json';
import { PrismaService } from './prisma.service';

export interface NewResponse {
  id: string;
  ownerId: string;
  model: string;
  request: CreateResponseRequest;
  /** The request's own input items, normalised (what input_items lists). */
  inputItems: Item[];
  /** What the top scope starts from: previous context plus the new input. */
  context: Item[];
  tools: ScopeTools;
  /** When the response's wall-clock budget runs out. */
  deadlineAt: Date;
}

export interface InputItemsPage {
  items: Item[];
  hasMore: boolean;
}

export interface TerminalUpdate {
  status: Extract<ResponseStatus, 'completed' | 'failed' | 'incomplete' | 'cancelled'>;
  output: Item[];
  error?: ResponseError | null;
  incompleteDetails?: IncompleteDetails | null;
  usage: Usage | null;
}

const NON_TERMINAL: ResponseStatus[] = ['queued', 'in_progress'];

/** The top scope of a response has an id derived from the response's. */
export function topScopeId(responseId: string): string {
  return `scope_${responseId.replace(/^resp_/, '')}`;
}

/** A principal's view: admins see everything, tenants only their own responses. */
function ownedBy(principal: Principal): Prisma.ResponseWhereInput {
  return principal.admin ? {} : { ownerId: principal.keyId };
}

const recordSelect = {
  id: true,
  status: true,
  model: true,
  request: true,
  output: true,
  error: true,
  incompleteDetails: true,
  usage: true,
  createdAt: true,
  completedAt: true,
  scopes: { where: { parentStepId: null }, select: { tools: true } },
} satisfies Prisma.ResponseSelect;

type RecordRow = Prisma.ResponseGetPayload<{ select: typeof recordSelect }>;

function toRecord(row: RecordRow): ResponseRecord {
  const tools = row.scopes[0] ? fromJson<ScopeTools>(row.scopes[0].tools).definitions : [];
  return {
    id: row.id,
    status: row.status,
    model: row.model,
    request: fromJson<CreateResponseRequest>(row.request),
    tools,
    output: fromJson<Item[] | null>(row.output),
    error: fromJson<ResponseError | null>(row.error),
    incompleteDetails: fromJson<IncompleteDetails | null>(row.incompleteDetails),
    usage: fromJson<Usage | null>(row.usage),
    createdAt: row.createdAt,
    completedAt: row.completedAt,
  };
}

@Injectable()
export class ResponsesRepository {
  constructor(private readonly prisma: PrismaService) {}

  /** Records a response, its input items and its top scope in one transaction. */
  async create(response: NewResponse): Promise<ResponseRecord> {
    const { request } = response;
    const [row] = await this.prisma.$transaction([
      this.prisma.response.create({
        data: {
          id: response.id,
          ownerId: response.ownerId,
          model: response.model,
          request: toJson(request),
          previousResponseId: request.previous_response_id ?? null,
          background: request.background ?? false,
          stream: request.stream ?? false,
          store: request.store ?? true,
          metadata: toJson(request.metadata ?? {}),
          deadlineAt: response.deadlineAt,
        },
        select: recordSelect,
      }),
      this.prisma.inputItem.createMany({
        data: response.inputItems.map((item, position) => ({
          responseId: response.id,
          position,
          itemId: item.id,
          item: toJson(item),
        })),
      }),
      this.prisma.scope.create({
        data: {
          id: topScopeId(response.id),
          responseId: response.id,
          depth: 0,
          model: response.model,
          instructions: request.instructions ?? null,
          input: toJson(response.context),
          tools: toJson(response.tools),
        },
      }),
    ]);
    return { ...toRecord(row), tools: response.tools.definitions };
  }

  async find(id: string, principal: Principal): Promise<ResponseRecord | null> {
    const row = await this.prisma.response.findFirst({
      where: { id, ...ownedBy(principal) },
      select: recordSelect,
    });
    return row ? toRecord(row) : null;
  }

  /** What a follow-up continues from: the response's context followed by its output. */
  async conversation(id: string, principal: Principal): Promise<Item[] | null> {
    const row = await this.prisma.response.findFirst({
      where: { id, store: true, ...ownedBy(principal) },
      select: { output: true, scopes: { where: { parentStepId: null }, select: { input: true } } },
    });
    if (!row) return null;
    const context = row.scopes[0] ? fromJson<Item[]>(row.scopes[0].input) : [];
    return [...context, ...(fromJson<Item[] | null>(row.output) ?? [])];
  }

  /** Deletes a response with everything recorded for it; false when it is not visible. */
  async delete(id: string, principal: Principal): Promise<boolean> {
    const { count } = await this.prisma.response.deleteMany({
      where: { id, ...ownedBy(principal) },
    });
    return count === 1;
  }

  /**
   * A page of the request's own input items, in `order` by position, after the item with
   * id `after` when given. Null when `after` names no item of this response.
   */
  async inputItems(
    id: string,
    page: { limit: number; order: 'asc' | 'desc'; after: string | null },
  ): Promise<InputItemsPage | null> {
    let cursor: number | undefined;
    if (page.after !== null) {
      const anchor = await this.prisma.inputItem.findFirst({
        where: { responseId: id, itemId: page.after },
        select: { position: true },
      });
      if (!anchor) return null;
      cursor = anchor.position;
    }
    const rows = await this.prisma.inputItem.findMany({
      where: {
        responseId: id,
        ...(cursor === undefined
          ? {}
          : { position: page.order === 'asc' ? { gt: cursor } : { lt: cursor } }),
      },
      orderBy: { position: page.order },
      take: page.limit + 1,
      select: { item: true },
    });
    return {
      items: rows.slice(0, page.limit).map((row) => fromJson<Item>(row.item)),
      hasMore: rows.length > page.limit,
    };
  }

  async findById(id: string): Promise<ResponseRecord | null> {
    const row = await this.prisma.response.findUnique({ where: { id }, select: recordSelect });
    return row ? toRecord(row) : null;
  }

  async status(id: string): Promise<ResponseStatus | null> {
    const row = await this.prisma.response.findUnique({ where: { id }, select: { status: true } });
    return row?.status ?? null;
  }

  /** queued -> in_progress; false when the response had already moved on. */
  async markInProgress(id: string): Promise<boolean> {
    const { count } = await this.prisma.response.updateMany({
      where: { id, status: 'queued' },
      data: { status: 'in_progress', startedAt: new Date() },
    });
    return count === 1;
  }

  /**
   * Writes the terminal state. Conditional on the response not being terminal yet, so it
   * happens exactly once however many workers race to it; returns whether this call won.
   */
  async finish(id: string, update: TerminalUpdate): Promise<boolean> {
    const { count } = await this.prisma.response.updateMany({
      where: { id, status: { in: NON_TERMINAL } },
      data: {
        status: update.status,
        output: toJson(update.output),
        error: update.error ? toJson(update.error) : undefined,
        incompleteDetails: update.incompleteDetails ? toJson(update.incompleteDetails) : undefined,
        usage: update.usage ? toJson(update.usage) : undefined,
        completedAt: new Date(),
        leaseOwner: null,
        leaseExpiresAt: null,
      },
    });
    return count === 1;
  }
}
