import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '@ratchet/config';
import { RecoveryRepository } from '@ratchet/store';

/**
 * Keeps the leases of the steps this worker runs: one statement every third of the lease
 * renews them all. A worker that stops renewing (killed, frozen, cut off from Postgres)
 * loses its steps to the sweeper of another once the lease runs out; its late result is then
 * refused by the attempt fence.
 */
@Injectable()
export class LeaseKeeper implements OnModuleDestroy {
  private readonly logger = new Logger(LeaseKeeper.name);
  readonly leaseMs: number;
  private readonly held = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private renewing = false;
  private owner = '';

  constructor(
    config: AppConfig,
    private readonly recovery: RecoveryRepository,
  ) {
    this.leaseMs = config.env.RATCHET_STEP_LEASE_MS;
  }

  /** Renews the lease of `stepId` (claimed by `owner`) until the returned function is called. */
  hold(stepId: string, owner: string): () => void {
    this.owner = owner;
    this.held.set(stepId, (this.held.get(stepId) ?? 0) + 1);
    this.timer ??= setInterval(() => void this.renew(), Math.max(50, this.leaseMs / 3));
    this.timer.unref();
    return () => {
      const count = (this.held.get(stepId) ?? 1) - 1;
      if (count > 0) this.held.set(stepId, count);
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
    try {
      await this.recovery.renewLeases([...this.held.keys()], this.owner, this.leaseMs);
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
