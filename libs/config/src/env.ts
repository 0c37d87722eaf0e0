import { z } from 'zod';
import { ConfigError, formatPath } from './ratchet-config';

// Process environment, parsed once at startup. Libraries never read process.env; the apps
// pass what they need from here.

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

export const envSchema = z.object({
  DATABASE_URL: optionalString,
  REDIS_URL: optionalString,
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  RATCHET_CONFIG: optionalString,
  RATCHET_ADMIN_KEY: optionalString.refine((key) => key === undefined || key.length >= 16, {
    message: 'must be at least 16 characters',
  }),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Jobs one worker process runs at once. */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(64),
  /** Prefix of every Redis key ratchet uses (queues and channels). */
  RATCHET_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/)
    .default('ratchet'),
  /** How long a stopping process may take to finish running work before it exits anyway. */
  RATCHET_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
  /** How long a running step is its worker's without renewal; renewed every third of it. */
  RATCHET_STEP_LEASE_MS: z.coerce.number().int().min(100).default(30_000),
  /** How often a worker looks for work nobody is doing (one worker at a time does). */
  RATCHET_SWEEP_INTERVAL_MS: z.coerce.number().int().min(50).default(5_000),
  /** How long work must sit idle before the sweeper takes it back. */
  RATCHET_SWEEP_GRACE_MS: z.coerce.number().int().min(0).default(15_000),
  /**
   * How often each worker looks for running steps whose worker has died (its liveness
   * session in Postgres ended), to queue them again at once.
   */
  RATCHET_LIVENESS_CHECK_MS: z.coerce.number().int().min(20).default(500),
  /** How long an Idempotency-Key of POST /v1/responses is remembered. */
  RATCHET_IDEMPOTENCY_TTL_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(24 * 60 * 60_000),
  /** How often an idle event stream gets a keepalive comment, and a WebSocket a ping. */
  RATCHET_SSE_KEEPALIVE_MS: z.coerce.number().int().min(100).default(15_000),
  /** How long a streaming step gathers deltas before logging them as one batch. */
  RATCHET_STREAM_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(0),
  /**
   * The key that seals what ratchet hands out or keeps sealed (compaction summaries): 32
   * bytes as 64 hex characters or base64. Unset, a key made once is kept in Postgres.
   */
  RATCHET_SECRET_KEY: optionalString.refine(
    (key) => key === undefined || decodeSecretKey(key) !== null,
    {
      message:
        'must be 32 bytes written as 64 hex characters or as base64 (e.g. the output of `openssl rand -hex 32`)',
    },
  ),
  /**
   * A port on which this process serves GET /metrics without a key (for workers, which have
   * no API). Unset: none. The API serves /metrics on PORT to admin keys either way.
   */
  RATCHET_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** OTLP/HTTP endpoint to send traces to (`/v1/traces` is added); unset with the next: no traces. */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  /** OTLP/HTTP traces endpoint as it is (wins over OTEL_EXPORTER_OTLP_ENDPOINT). */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalString.pipe(
    z.url({ protocol: /^https?$/ }).optional(),
  ),
  /** The service name spans carry (default: ratchet-api, ratchet-worker or ratchet). */
  OTEL_SERVICE_NAME: optionalString,
  /** Largest request body (or WebSocket message) accepted, in bytes. */
  RATCHET_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(20 * 1024 * 1024),
});
export type Env = z.infer<typeof envSchema>;

/** The environment after validation; DATABASE_URL and REDIS_URL are required here. */
export interface ServiceEnv extends Env {
  DATABASE_URL: string;
  REDIS_URL: string;
}

export function parseEnv(source: Record<string, string | undefined>): Env {
  // A blank variable (`PORT=` in a compose file) means unset, never 0 or an invalid value.
  const result = envSchema.safeParse(
    Object.fromEntries(Object.entries(source).filter(([, value]) => value?.trim())),
  );
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `environment: ${formatPath(issue.path)}: ${issue.message}`,
    );
    throw new ConfigError(lines.join('\n'));
  }
  return result.data;
}

/** RATCHET_SECRET_KEY's 32 bytes, from hex or base64 (either alphabet); null when it is neither. */
export function decodeSecretKey(text: string): Buffer | null {
  const value = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(value)) key = Buffer.from(value, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(value)) key = Buffer.from(value, 'base64');
  return key?.length === 32 ? key : null;
}

export function requireServiceEnv(env: Env): ServiceEnv {
  const missing = (['DATABASE_URL', 'REDIS_URL'] as const).filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new ConfigError(
      `environment: ${missing.join(' and ')} must be set (or run 'npm run dev' for an embedded Postgres and Redis)`,
    );
  }
  return env as ServiceEnv;
}
