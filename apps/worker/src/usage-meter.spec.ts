import { usageOf } from '@ratchet/providers';
import { UsageMeter } from './usage-meter';

const exact = {
  input_tokens: 100,
  input_tokens_details: { cached_tokens: 10 },
  output_tokens: 20,
  output_tokens_details: { reasoning_tokens: 5 },
  total_tokens: 120,
};

describe('UsageMeter', () => {
  it('passes exact usage through when no attempt was abandoned', () => {
    const meter = new UsageMeter();
    meter.input(50);
    meter.delta('Hello there');
    expect(meter.withAbandoned(exact)).toEqual(exact);
    expect(meter.streamed()).toEqual({ ...usageOf(50, 3), estimated: true });
  });

  it('adds an estimate for each attempt abandoned mid-stream, flagged as estimated', () => {
    const meter = new UsageMeter();
    meter.input(50);
    meter.delta('12345678'); // 2 tokens
    meter.abandon();
    meter.delta('1234'); // the attempt that answered
    expect(meter.withAbandoned(exact)).toEqual({
      input_tokens: 150,
      input_tokens_details: { cached_tokens: 10 },
      output_tokens: 22,
      output_tokens_details: { reasoning_tokens: 5 },
      total_tokens: 172,
      estimated: true,
    });
  });

  it('estimates a cancelled call, its input read even if nothing streamed', () => {
    const meter = new UsageMeter();
    meter.input(40);
    expect(meter.cutShort()).toEqual({ ...usageOf(40, 0), estimated: true });
    meter.delta('x'.repeat(9)); // 3 tokens
    expect(meter.cutShort()).toEqual({ ...usageOf(40, 3), estimated: true });
  });

  it('charges nothing for a call that failed before streaming', () => {
    const meter = new UsageMeter();
    meter.input(40);
    expect(meter.streamed()).toBeNull();
  });
});
