import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { nowMs } from './stats';

// A TCP proxy in front of Postgres that reads the wire protocol going through it: every Sync
// (extended protocol) or Query (simple protocol) is one round trip, answered by one
// ReadyForQuery. It counts them per statement and times each from the moment the proxy
// forwards it to the moment the answer comes back. pg_stat_statements would need a server
// restart to load; this needs nothing from the server.

export interface StatementStats {
  text: string;
  count: number;
  totalMs: number;
}

export interface PgTapStats {
  roundTrips: number;
  transactions: number;
  /** Commits that write (each one waits for a WAL flush): COMMITs and autocommit writes. */
  writeCommits: number;
  totalMs: number;
  statements: StatementStats[];
}

export interface PgTap {
  port: number;
  stats(): PgTapStats;
  reset(): void;
  close(): Promise<void>;
}

const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;

export async function startPgTap(target: { host: string; port: number }): Promise<PgTap> {
  let statements = new Map<string, StatementStats>();
  let writeCommits = 0;
  const record = (text: string, elapsedMs: number, commitsWrite: boolean): void => {
    if (commitsWrite) writeCommits += 1;
    const entry = statements.get(text) ?? { text, count: 0, totalMs: 0 };
    entry.count += 1;
    entry.totalMs += elapsedMs;
    statements.set(text, entry);
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    sockets.add(client).add(upstream);
    const tap = new ConnectionTap(record);
    client.on('data', (chunk: Buffer) => {
      tap.fromClient(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      tap.fromServer(chunk);
      client.write(chunk);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('pg tap: no port');
  return {
    port: address.port,
    stats: () => {
      const list = [...statements.values()];
      return {
        roundTrips: list.reduce((sum, s) => sum + s.count, 0),
        transactions: list.filter((s) => /^BEGIN\b/i.test(s.text)).reduce((n, s) => n + s.count, 0),
        writeCommits,
        totalMs: list.reduce((sum, s) => sum + s.totalMs, 0),
        statements: list.sort((a, b) => b.count - a.count),
      };
    },
    reset: () => {
      statements = new Map();
      writeCommits = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The protocol state of one proxied connection. */
class ConnectionTap {
  private clientBuffer = Buffer.alloc(0);
  private serverBuffer = Buffer.alloc(0);
  private startupDone = false;
  /** SSL or GSS encryption: the stream is opaque from then on. */
  private opaque = false;
  private readonly prepared = new Map<string, string>();
  private current = '';
  private readonly pending: { text: string; startedAt: number }[] = [];
  private inTransaction = false;

  constructor(
    private readonly record: (text: string, elapsedMs: number, commitsWrite: boolean) => void,
  ) {}

  fromClient(chunk: Buffer): void {
    if (this.opaque) return;
    this.clientBuffer = Buffer.concat([this.clientBuffer, chunk]);
    for (;;) {
      if (!this.startupDone) {
        if (this.clientBuffer.length < 8) return;
        const length = this.clientBuffer.readInt32BE(0);
        if (this.clientBuffer.length < length) return;
        const code = this.clientBuffer.readInt32BE(4);
        this.clientBuffer = this.clientBuffer.subarray(length);
        if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
          this.opaque = true;
          return;
        }
        this.startupDone = true;
        this.pending.push({ text: '(connect and authenticate)', startedAt: nowMs() });
        continue;
      }
      if (this.clientBuffer.length < 5) return;
      const type = String.fromCharCode(this.clientBuffer[0]);
      const length = this.clientBuffer.readInt32BE(1);
      if (this.clientBuffer.length < 1 + length) return;
      const body = this.clientBuffer.subarray(5, 1 + length);
      this.clientBuffer = this.clientBuffer.subarray(1 + length);
      this.onClientMessage(type, body);
    }
  }

  private onClientMessage(type: string, body: Buffer): void {
    switch (type) {
      case 'P': {
        const [name, query] = cStrings(body, 2);
        this.prepared.set(name, query);
        this.current = query;
        return;
      }
      case 'B': {
        const [, statement] = cStrings(body, 2);
        this.current = this.prepared.get(statement) ?? this.current;
        return;
      }
      case 'S':
        this.pending.push({ text: normalizeSql(this.current), startedAt: nowMs() });
        return;
      case 'Q':
        this.pending.push({ text: normalizeSql(cStrings(body, 1)[0]), startedAt: nowMs() });
        return;
    }
  }

  fromServer(chunk: Buffer): void {
    if (this.opaque) return;
    this.serverBuffer = Buffer.concat([this.serverBuffer, chunk]);
    while (this.serverBuffer.length >= 5) {
      const length = this.serverBuffer.readInt32BE(1);
      if (this.serverBuffer.length < 1 + length) return;
      const type = String.fromCharCode(this.serverBuffer[0]);
      this.serverBuffer = this.serverBuffer.subarray(1 + length);
      if (type !== 'Z') continue;
      const request = this.pending.shift();
      if (request)
        this.record(request.text, nowMs() - request.startedAt, this.commits(request.text));
    }
  }

  /**
   * Tracks BEGIN/COMMIT; true when this statement ends in a commit that writes. Roughly: a
   * read-only transaction's COMMIT counts too, but every ratchet transaction writes.
   */
  private commits(text: string): boolean {
    if (/^BEGIN\b/i.test(text)) {
      this.inTransaction = true;
      return false;
    }
    if (/^(COMMIT|ROLLBACK)\b/i.test(text)) {
      this.inTransaction = false;
      return /^COMMIT/i.test(text);
    }
    return !this.inTransaction && /^(INSERT|UPDATE|DELETE)\b/i.test(text);
  }
}

function cStrings(body: Buffer, count: number): string[] {
  const strings: string[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const end = body.indexOf(0, offset);
    if (end < 0) break;
    strings.push(body.toString('utf8', offset, end));
    offset = end + 1;
  }
  while (strings.length < count) strings.push('');
  return strings;
}

/** One line per statement shape, short enough for a table: Prisma's column lists elided. */
export function normalizeSql(sql: string): string {
  const text = sql
    .replace(/\s+/g, ' ')
    .replace(/"public"\./g, '')
    .replace(/^SELECT (?!1\b).*? FROM /i, 'SELECT … FROM ')
    .replace(/ RETURNING .*$/i, ' RETURNING …')
    .replace(/\(("\w+"(, )?){4,}\)/g, '(…)')
    .trim();
  return text.length > 140 ? `${text.slice(0, 139)}…` : text;
}
