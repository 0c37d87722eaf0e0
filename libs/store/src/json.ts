import type { Prisma } from './generated/prisma/client';

/** Domain objects are plain JSON data; this states that to Prisma's JSON column types. */
export function toJson(value: unknown): Prisma.InputJsonValue {
  return value as Prisma.InputJsonValue;
}

/** Reads a JSON column back as the domain type it was written from. */
export function fromJson<T>(value: Prisma.JsonValue | null): T {
  return value as T;
}
