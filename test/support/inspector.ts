import WebSocket from 'ws';
import type { ServiceProcess } from './processes';

// Runs code inside a running Node process through its inspector, so a test can stall a real
// ratchet process's event loop without any hook in ratchet's code. The process must have been
// started with `NODE_OPTIONS=--inspect=127.0.0.1:0` (the port is read from what it prints).

/** The environment that opens a process's inspector on a free port. */
export const INSPECTABLE = { NODE_OPTIONS: '--inspect=127.0.0.1:0' };

function inspectorUrl(service: ServiceProcess): string {
  const match = /Debugger listening on (ws:\/\/\S+)/.exec(service.output());
  if (!match) throw new Error('the process has no inspector (start it with INSPECTABLE)');
  return match[1];
}

/** Evaluates `expression` on the process's main thread; resolves with its value when done. */
export async function evaluateIn(service: ServiceProcess, expression: string): Promise<unknown> {
  const socket = new WebSocket(inspectorUrl(service));
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const answer = new Promise<unknown>((resolve, reject) => {
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString('utf8')) as {
          id?: number;
          result?: { result?: { value?: unknown }; exceptionDetails?: unknown };
          error?: unknown;
        };
        if (message.id !== 1) return;
        if (message.error || message.result?.exceptionDetails) {
          reject(new Error(`evaluation failed: ${JSON.stringify(message)}`));
        } else {
          resolve(message.result?.result?.value);
        }
      });
      socket.once('close', () => reject(new Error('the inspector closed')));
    });
    socket.send(
      JSON.stringify({
        id: 1,
        method: 'Runtime.evaluate',
        params: { expression, returnByValue: true },
      }),
    );
    return await answer;
  } finally {
    socket.close();
  }
}

/**
 * Keeps the process's event loop busy for `ms` with a synchronous loop, as a long CPU-bound
 * task would; resolves with how long it really ran, once the loop is free again.
 */
export async function blockEventLoop(service: ServiceProcess, ms: number): Promise<number> {
  const value = await evaluateIn(
    service,
    `(() => { const start = Date.now(); while (Date.now() - start < ${ms}); return Date.now() - start; })()`,
  );
  return Number(value);
}
