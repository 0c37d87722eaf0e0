import type { LoggerService } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import type { Env } from './env';

/** Nest's start-up chatter (one line per module and route) belongs at debug level. */
const BOOTSTRAP_CONTEXTS = new Set([
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestFactory',
]);

/** Nest's logger interface over pino: one JSON line per entry, `context` as a field. */
export class PinoLogger implements LoggerService {
  constructor(readonly pino: Logger) {}

  /** `fields` adds to every line (the trace and step being run, see libs/telemetry). */
  static create(
    level: Env['LOG_LEVEL'],
    name: string,
    fields?: () => Record<string, unknown>,
  ): PinoLogger {
    return new PinoLogger(
      pino({ level, name, base: { pid: process.pid }, ...(fields ? { mixin: fields } : {}) }),
    );
  }

  log(message: unknown, context?: string): void {
    if (context && BOOTSTRAP_CONTEXTS.has(context)) this.pino.debug({ context }, String(message));
    else this.pino.info({ context }, String(message));
  }
  /**
   * An error entry. `message` is text, an Error, or an object of structured fields with the
   * text as `msg` (`{ msg, responseId, stepId }`), which become fields of the JSON line.
   */
  error(message: unknown, ...rest: unknown[]): void {
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const err = message instanceof Error ? message : rest.find((r) => r instanceof Error);
    const stack = rest.find((r) => typeof r === 'string');
    if (isLogFields(message)) {
      const { msg, ...fields } = message;
      this.pino.error({ context, ...fields, err, stack }, msg);
      return;
    }
    this.pino.error(
      { context, err, stack },
      message instanceof Error ? message.message : String(message),
    );
  }
  warn(message: unknown, context?: string): void {
    this.pino.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.pino.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.pino.trace({ context }, String(message));
  }
}

/** Structured fields of a log entry, its text as `msg`. */
export interface LogFields {
  msg: string;
  [field: string]: unknown;
}

function isLogFields(value: unknown): value is LogFields {
  return (
    value !== null &&
    typeof value === 'object' &&
    !(value instanceof Error) &&
    typeof (value as { msg?: unknown }).msg === 'string'
  );
}
