import { decodeSecretKey, parseEnv, requireServiceEnv, type Env } from './env';
import { ConfigError } from './ratchet-config';

const SERVICES = {
  DATABASE_URL: 'postgres://ratchet@localhost:5432/ratchet',
  REDIS_URL: 'redis://localhost:6379',
};

/** The ConfigError `run` throws; fails the test when nothing is thrown. */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseEnv', () => {
  it('applies the defaults to an empty environment', () => {
    const env = parseEnv({});
    expect(env).toEqual({
      PORT: 8080,
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: 64,
      RATCHET_REDIS_PREFIX: 'ratchet',
      RATCHET_SHUTDOWN_TIMEOUT_MS: 30_000,
      RATCHET_BODY_LIMIT_BYTES: 20 * 1024 * 1024,
      RATCHET_IDEMPOTENCY_TTL_MS: 86_400_000,
      RATCHET_STEP_LEASE_MS: 30_000,
      RATCHET_SWEEP_INTERVAL_MS: 5_000,
      RATCHET_SWEEP_GRACE_MS: 15_000,
      RATCHET_LIVENESS_CHECK_MS: 500,
      RATCHET_SSE_KEEPALIVE_MS: 15_000,
      RATCHET_STREAM_LINGER_MS: 0,
    });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.RATCHET_CONFIG).toBeUndefined();
    expect(env.RATCHET_ADMIN_KEY).toBeUndefined();
  });

  it('reads every variable it knows', () => {
    const env = parseEnv({
      ...SERVICES,
      PORT: '3000',
      RATCHET_CONFIG: '/etc/ratchet.yaml',
      RATCHET_ADMIN_KEY: 'admin-key-0123456789',
      LOG_LEVEL: 'debug',
      WORKER_CONCURRENCY: '8',
      RATCHET_REDIS_PREFIX: 'test:run-1_a',
      RATCHET_SHUTDOWN_TIMEOUT_MS: '5000',
      RATCHET_BODY_LIMIT_BYTES: '2048',
      RATCHET_SSE_KEEPALIVE_MS: '250',
      RATCHET_STREAM_LINGER_MS: '0',
      RATCHET_IDEMPOTENCY_TTL_MS: '60000',
      RATCHET_STEP_LEASE_MS: '1500',
      RATCHET_SWEEP_INTERVAL_MS: '300',
      RATCHET_SWEEP_GRACE_MS: '1000',
      RATCHET_LIVENESS_CHECK_MS: '100',
      RATCHET_SECRET_KEY: 'ab'.repeat(32),
      RATCHET_METRICS_PORT: '9464',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces',
      OTEL_SERVICE_NAME: 'ratchet-eu',
    });
    expect(env).toEqual<Env>({
      ...SERVICES,
      PORT: 3000,
      RATCHET_CONFIG: '/etc/ratchet.yaml',
      RATCHET_ADMIN_KEY: 'admin-key-0123456789',
      LOG_LEVEL: 'debug',
      WORKER_CONCURRENCY: 8,
      RATCHET_REDIS_PREFIX: 'test:run-1_a',
      RATCHET_SHUTDOWN_TIMEOUT_MS: 5000,
      RATCHET_BODY_LIMIT_BYTES: 2048,
      RATCHET_SSE_KEEPALIVE_MS: 250,
      RATCHET_STREAM_LINGER_MS: 0,
      RATCHET_IDEMPOTENCY_TTL_MS: 60_000,
      RATCHET_STEP_LEASE_MS: 1500,
      RATCHET_SWEEP_INTERVAL_MS: 300,
      RATCHET_SWEEP_GRACE_MS: 1000,
      RATCHET_LIVENESS_CHECK_MS: 100,
      RATCHET_SECRET_KEY: 'ab'.repeat(32),
      RATCHET_METRICS_PORT: 9464,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces',
      OTEL_SERVICE_NAME: 'ratchet-eu',
    });
  });

  it('refuses an OTLP endpoint that is not a URL, naming the variable', () => {
    expect(() => parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318 ' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(() => parseEnv({ RATCHET_METRICS_PORT: '70000' })).toThrow(/RATCHET_METRICS_PORT/);
  });

  it('coerces numeric variables to numbers', () => {
    const env = parseEnv({
      PORT: '0',
      WORKER_CONCURRENCY: '1000',
      RATCHET_BODY_LIMIT_BYTES: '1024',
    });
    expect(env.PORT).toBe(0);
    expect(env.WORKER_CONCURRENCY).toBe(1000);
    expect(env.RATCHET_BODY_LIMIT_BYTES).toBe(1024);
  });

  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const)(
    'accepts LOG_LEVEL %s',
    (level) => {
      expect(parseEnv({ LOG_LEVEL: level }).LOG_LEVEL).toBe(level);
    },
  );

  it('ignores variables it does not know', () => {
    const env = parseEnv({ HOME: '/root', PATH: '/usr/bin', PORT: '81' });
    expect(env).not.toHaveProperty('HOME');
    expect(env).not.toHaveProperty('PATH');
    expect(env.PORT).toBe(81);
  });

  describe('bad values', () => {
    it.each([
      ['PORT', 'http'],
      ['PORT', '65536'],
      ['PORT', '-1'],
      ['PORT', '80.5'],
      ['LOG_LEVEL', 'verbose'],
      ['LOG_LEVEL', 'INFO'],
      ['WORKER_CONCURRENCY', '0'],
      ['WORKER_CONCURRENCY', '1001'],
      ['WORKER_CONCURRENCY', 'many'],
      ['RATCHET_REDIS_PREFIX', 'has space'],
      ['RATCHET_REDIS_PREFIX', 'a/b'],
      ['RATCHET_BODY_LIMIT_BYTES', '1023'],
    ])('rejects %s=%j with a ConfigError naming the variable', (name, value) => {
      const error = configError(() => parseEnv({ [name]: value }));
      expect(error.message).toMatch(new RegExp(`^environment: ${name}: .+`));
      expect(error.message.split('\n')).toHaveLength(1);
    });

    it('names every bad variable, one per line', () => {
      const error = configError(() => parseEnv({ PORT: 'x', LOG_LEVEL: 'loud' }));
      const lines = error.message.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^environment: PORT: /);
      expect(lines[1]).toMatch(/^environment: LOG_LEVEL: /);
    });
  });

  describe('empty strings', () => {
    it('treats empty and blank strings as unset for the optional strings', () => {
      const env = parseEnv({
        DATABASE_URL: '',
        REDIS_URL: '   ',
        RATCHET_CONFIG: '',
        RATCHET_ADMIN_KEY: ' ',
      });
      expect(env.DATABASE_URL).toBeUndefined();
      expect(env.REDIS_URL).toBeUndefined();
      expect(env.RATCHET_CONFIG).toBeUndefined();
      expect(env.RATCHET_ADMIN_KEY).toBeUndefined();
    });

    it('falls back to the defaults for empty variables that have one (PORT= is not port 0)', () => {
      expect(
        parseEnv({
          PORT: '',
          LOG_LEVEL: '',
          WORKER_CONCURRENCY: ' ',
          RATCHET_REDIS_PREFIX: '',
          RATCHET_BODY_LIMIT_BYTES: '',
        }),
      ).toEqual(parseEnv({}));
    });
  });

  describe('RATCHET_ADMIN_KEY', () => {
    it('rejects a key shorter than 16 characters', () => {
      const error = configError(() => parseEnv({ RATCHET_ADMIN_KEY: 'x'.repeat(15) }));
      expect(error.message).toBe('environment: RATCHET_ADMIN_KEY: must be at least 16 characters');
    });

    it('accepts a key of exactly 16 characters', () => {
      expect(parseEnv({ RATCHET_ADMIN_KEY: 'x'.repeat(16) }).RATCHET_ADMIN_KEY).toBe(
        'x'.repeat(16),
      );
    });
  });

  describe('RATCHET_SECRET_KEY', () => {
    const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7));

    it.each([
      ['hex', bytes.toString('hex')],
      ['upper-case hex', bytes.toString('hex').toUpperCase()],
      ['base64', bytes.toString('base64')],
      ['base64url', bytes.toString('base64url')],
    ])('accepts 32 bytes as %s', (_form, text) => {
      expect(parseEnv({ RATCHET_SECRET_KEY: text }).RATCHET_SECRET_KEY).toBe(text);
      expect(decodeSecretKey(text)).toEqual(bytes);
    });

    it.each([
      ['a passphrase', 'correct horse battery staple'],
      ['31 bytes of hex', bytes.subarray(1).toString('hex')],
      ['33 bytes of base64', Buffer.concat([bytes, bytes.subarray(0, 1)]).toString('base64')],
    ])('rejects %s, saying what a key looks like', (_what, text) => {
      const error = configError(() => parseEnv({ RATCHET_SECRET_KEY: text }));
      expect(error.message).toMatch(/^environment: RATCHET_SECRET_KEY: must be 32 bytes /);
      expect(error.message).toContain('openssl rand -hex 32');
    });

    it('is unset when empty', () => {
      expect(parseEnv({ RATCHET_SECRET_KEY: ' ' }).RATCHET_SECRET_KEY).toBeUndefined();
    });
  });
});

describe('requireServiceEnv', () => {
  it('returns the same environment when DATABASE_URL and REDIS_URL are set', () => {
    const env = parseEnv(SERVICES);
    const service = requireServiceEnv(env);
    expect(service).toBe(env);
    expect(service.DATABASE_URL).toBe(SERVICES.DATABASE_URL);
    expect(service.REDIS_URL).toBe(SERVICES.REDIS_URL);
  });

  it('names both variables when both are missing and points at npm run dev', () => {
    const error = configError(() => requireServiceEnv(parseEnv({})));
    expect(error.message).toBe(
      "environment: DATABASE_URL and REDIS_URL must be set (or run 'npm run dev' for an embedded Postgres and Redis)",
    );
  });

  it('names only DATABASE_URL when only it is missing', () => {
    const error = configError(() => requireServiceEnv(parseEnv({ REDIS_URL: SERVICES.REDIS_URL })));
    expect(error.message).toMatch(/^environment: DATABASE_URL must be set /);
    expect(error.message).not.toContain('REDIS_URL');
  });

  it('names only REDIS_URL when only it is missing', () => {
    const error = configError(() =>
      requireServiceEnv(parseEnv({ DATABASE_URL: SERVICES.DATABASE_URL })),
    );
    expect(error.message).toMatch(/^environment: REDIS_URL must be set /);
    expect(error.message).not.toContain('DATABASE_URL');
  });

  it('treats a blank DATABASE_URL as missing', () => {
    const error = configError(() =>
      requireServiceEnv(parseEnv({ DATABASE_URL: ' ', REDIS_URL: SERVICES.REDIS_URL })),
    );
    expect(error.message).toMatch(/^environment: DATABASE_URL must be set /);
  });
});
