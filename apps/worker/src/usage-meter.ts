import { addUsage, type Usage } from '@ratchet/core';
import { estimateTokens, usageOf } from '@ratchet/providers';

/**
 * Counts what a model call's attempts streamed, to estimate the usage of attempts that were
 * cut short. An attempt that failed before streaming anything is not counted: upstreams do
 * not charge for requests they refused.
 */
export class UsageMeter {
  private inputTokens = 0;
  /** Characters streamed by the attempt under way. */
  private current = 0;
  /** Characters streamed by each attempt abandoned mid-stream. */
  private readonly abandoned: number[] = [];

  input(tokens: number): void {
    this.inputTokens = tokens;
  }

  delta(text: string): void {
    this.current += text.length;
  }

  /** An attempt of another worker, known only by what it streamed before it died. */
  earlierAttempt(chars: number): void {
    this.abandoned.push(chars);
  }

  abandon(): void {
    this.abandoned.push(this.current);
    this.current = 0;
  }

  /** Exact usage of the attempt that answered, plus estimates for those abandoned. */
  withAbandoned(exact: Usage): Usage {
    return this.abandoned.reduce((total, chars) => addUsage(total, this.estimate(chars)), exact);
  }

  /** Estimates for the attempts that streamed, when the call gave up; null if none did. */
  streamed(): Usage | null {
    const attempts = this.current > 0 ? [...this.abandoned, this.current] : this.abandoned;
    if (attempts.length === 0) return null;
    return attempts.map((chars) => this.estimate(chars)).reduce(addUsage);
  }

  /** The call was cancelled: the attempt under way counts too, its input read at least. */
  cutShort(): Usage {
    return [...this.abandoned, this.current].map((chars) => this.estimate(chars)).reduce(addUsage);
  }

  private estimate(outputChars: number): Usage {
    return { ...usageOf(this.inputTokens, estimateTokens(outputChars)), estimated: true };
  }
}
