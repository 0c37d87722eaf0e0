import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

// A TCP proxy in front of Redis that counts the commands going through it. BullMQ runs its
// work as Lua scripts called by SHA (EVALSHA), so scripts are named by hashing BullMQ's own
// script sources the way ioredis does. Replies are not parsed: blocking reads (BZPOPMIN) would
// make reply times meaningless anyway.

export interface RedisTap {
  port: number;
  /** Commands seen since the last reset, by name, most frequent first. */
  commands(): { command: string; count: number }[];
  reset(): void;
  close(): Promise<void>;
}

interface BullScript {
  name: string;
  content: string;
}

/** sha1 of every BullMQ script -> its name. */
function bullScriptNames(): Map<string, string> {
  const names = new Map<string, string>();
  try {
    const load = createRequire(__filename);
    const scripts = load('bullmq/dist/cjs/scripts') as Record<string, BullScript>;
    for (const script of Object.values(scripts)) {
      names.set(createHash('sha1').update(script.content).digest('hex'), script.name);
    }
  } catch {
    // Unknown layout in another BullMQ version: scripts are then shown by SHA prefix.
  }
  return names;
}

export async function startRedisTap(target: { host: string; port: number }): Promise<RedisTap> {
  const scriptNames = bullScriptNames();
  let counts = new Map<string, number>();
  const count = (args: string[]): void => {
    const name = (args[0] ?? '').toUpperCase();
    let label = name;
    if (name === 'EVALSHA') {
      const sha = args[1] ?? '';
      label = `EVALSHA ${scriptNames.get(sha) ?? sha.slice(0, 8)}`;
    } else if (name === 'EVAL') {
      const sha = createHash('sha1')
        .update(args[1] ?? '')
        .digest('hex');
      label = `EVAL ${scriptNames.get(sha) ?? sha.slice(0, 8)}`;
    }
    counts.set(label, (counts.get(label) ?? 0) + 1);
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    sockets.add(client).add(upstream);
    const parser = new CommandParser(count);
    client.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
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
  if (!address || typeof address !== 'object') throw new Error('redis tap: no port');
  return {
    port: address.port,
    commands: () =>
      [...counts.entries()]
        .map(([command, n]) => ({ command, count: n }))
        .sort((a, b) => b.count - a.count),
    reset: () => {
      counts = new Map();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Splits a client's byte stream into RESP commands (arrays of bulk strings). */
class CommandParser {
  private buffer = Buffer.alloc(0);

  constructor(private readonly onCommand: (args: string[]) => void) {}

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const parsed = this.parseOne();
      if (!parsed) return;
      this.buffer = this.buffer.subarray(parsed.consumed);
      this.onCommand(parsed.args);
    }
  }

  private parseOne(): { args: string[]; consumed: number } | null {
    const buffer = this.buffer;
    if (buffer.length === 0) return null;
    const header = this.line(0);
    if (!header) return null;
    if (buffer[0] !== 0x2a /* '*' */) {
      // An inline command (redis-cli style): one line, words separated by spaces.
      return { args: header.text.trim().split(/\s+/), consumed: header.next };
    }
    const count = Number(header.text.slice(1));
    const args: string[] = [];
    let offset = header.next;
    for (let i = 0; i < count; i++) {
      const sizeLine = this.line(offset);
      if (!sizeLine) return null;
      const size = Number(sizeLine.text.slice(1));
      const end = sizeLine.next + size;
      if (buffer.length < end + 2) return null;
      // Only the first two arguments are needed (the command, a script SHA or body).
      args.push(i < 2 ? buffer.toString('utf8', sizeLine.next, end) : '');
      offset = end + 2;
    }
    return { args, consumed: offset };
  }

  private line(start: number): { text: string; next: number } | null {
    const end = this.buffer.indexOf('\r\n', start);
    if (end < 0) return null;
    return { text: this.buffer.toString('utf8', start, end), next: end + 2 };
  }
}
