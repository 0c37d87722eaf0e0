import { Pool } from 'undici';

// A minimal Responses API client over one keep-alive undici pool: fetch costs ~0.3 ms more per
// round trip here, which would be charged to ratchet.

/** Long enough for the longest shape under full load; a hang fails the run instead of stalling. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface ResponseSummary {
  id: string;
  status: string;
  error: unknown;
}

export class RatchetClient {
  private readonly pool: Pool;

  constructor(
    baseUrl: string,
    private readonly apiKey: string,
    connections = 128,
  ) {
    this.pool = new Pool(baseUrl, { connections, keepAliveTimeout: 60_000 });
  }

  /** POST /v1/responses; resolves once ratchet answers (at the end, unless background). */
  async create(body: Record<string, unknown>): Promise<ResponseSummary> {
    return this.call('POST', '/v1/responses', JSON.stringify(body));
  }

  /** POST /v1/responses/{id}/cancel. */
  async cancel(id: string): Promise<ResponseSummary> {
    return this.call('POST', `/v1/responses/${encodeURIComponent(id)}/cancel`, undefined);
  }

  /**
   * Opens `connections` keep-alive connections, each with a GET /healthz (the smallest
   * answer), and leaves them idle in the pool for the requests that follow.
   */
  async open(connections: number): Promise<void> {
    await Promise.all(
      Array.from({ length: connections }, () => this.call('GET', '/healthz', undefined)),
    );
  }

  async get(id: string): Promise<ResponseSummary> {
    return this.call('GET', `/v1/responses/${encodeURIComponent(id)}`, undefined);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async call(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
  ): Promise<ResponseSummary> {
    const response = await this.pool.request({
      method,
      path,
      headers: {
        authorization: `Bearer ${this.apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) {
      throw new Error(`${method} ${path}: HTTP ${response.statusCode}: ${text.slice(0, 500)}`);
    }
    return JSON.parse(text) as ResponseSummary;
  }
}
