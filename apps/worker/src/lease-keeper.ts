import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { RecoveryRepository, type HeldStep } from '@ratchet/store';

/**
 * Keeps the leases of the steps this worker runs: one statement every third of the lease
 * renews them all. A worker that dies is found at once by its liveness session (Liveness);
 * the lease is the safety net for what that cannot see: a worker that stops renewing (frozen
 * for longer than the lease, or cut off from Postgres while its session lingers) loses its
 * steps to the sweeper of another once the lease runs out; its late result is then refused by
 * the attempt fence.
 */
@Injectable()
export class LeaseKeeper implements OnModuleDestroy {
  private readonly logger = new Logger(LeaseKeeper.name);
  readonly leaseMs: number;
  /**
   * Steps held, by id, with their response, the worker id each was claimed under and how many
   * holds it has.
   */
  private readonly held = new Map<string, { responseId: string; owner: string; count: number }>();
  private timer: NodeJS.Timeout | null = null;
  private renewing = false;

  constructor(
    config: AppConfig,
    private readonly recovery: RecoveryRepository,
  ) {
    this.leaseMs = config.env.RATCHET_STEP_LEASE_MS;
  }

  /** Renews the lease of a step (claimed by `owner`) until the returned function is called. */
  hold({ responseId, stepId }: HeldStep, owner: string): () => void {
    const entry = this.held.get(stepId);
    if (entry) {
      entry.owner = owner;
      entry.count++;
    } else {
      this.held.set(stepId, { responseId, owner, count: 1 });
    }
    this.timer ??= setInterval(() => void this.renew(), Math.max(50, this.leaseMs / 3));
    this.timer.unref();
    return () => {
      const held = this.held.get(stepId);
      if (held && held.count > 1) held.count--;
      else this.held.delete(stepId);
      if (this.held.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.held.size === 0) return;
    this.renewing = true;
    const byOwner = new Map<string, HeldStep[]>();
    for (const [stepId, { responseId, owner }] of this.held) {
      const steps = byOwner.get(owner) ?? [];
      steps.push({ responseId, stepId });
      byOwner.set(owner, steps);
    }
    try {
      for (const [owner, steps] of byOwner) {
        await this.recovery.renewLeases(steps, owner, this.leaseMs);
      }
    } catch (error) {
      this.logger.warn(`could not renew ${this.held.size} lease(s): ${String(error)}`);
    } finally {
      this.renewing = false;
    }
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
