import { Writable } from 'node:stream';
import { PinoLogger } from '@ratchet/config';
import pino from 'pino';
import { logFields } from './tracing';

describe('logFields as the logger mixin', () => {
  it('lets every line through, with its own fields, when traces are off', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger = new PinoLogger(pino({ level: 'info', mixin: logFields }, sink));
    logger.warn('one', 'Context');
    logger.log('two', 'Context');
    logger.error({ msg: 'three', responseId: 'resp_1', stepId: 'step_1' });
    expect(lines.map((line) => line.msg)).toEqual(['one', 'two', 'three']);
    expect(lines[2]).toMatchObject({ responseId: 'resp_1', stepId: 'step_1' });
    expect(lines[0]).not.toHaveProperty('trace_id');
  });
});
