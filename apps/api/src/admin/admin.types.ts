import type { LiveResponse, RecoveryActivity, UpstreamErrors, WorkerView } from '@ratchet/store';

// What the admin routes answer; types only, so the console shares them without the service.

/** Responses an operator's filter matched, and what the action did to them. */
export interface ResponsesAction {
  object: 'admin.action';
  action: 'requeue' | 'cancel';
  dry_run: boolean;
  /** Live responses the filter matched (at most `limit`), with why each is stuck, if it is. */
  matched: number;
  responses: LiveResponse[];
  /** Responses the action changed (on a dry run: would act on). */
  affected: number;
  affected_ids: string[];
  /** requeue only: the work queued again. */
  requeued?: { steps: number; scopes: number };
  audit_id: number;
}

export interface PurgeResult {
  object: 'admin.purge';
  dry_run: boolean;
  older_than_seconds: number;
  /** Responses deleted (on a dry run: that would be). */
  purged: number;
  /** Their ids, the first 1000. */
  ids: string[];
  /** More remain past `limit`: call again. */
  has_more: boolean;
  audit_id: number;
}

export interface Overview {
  object: 'admin.overview';
  generated_at: string;
  window_seconds: number;
  queues: Record<string, Record<string, number>>;
  workers: WorkerView[];
  responses: { by_status: Record<string, number> };
  recovery: RecoveryActivity;
  upstream: UpstreamErrors[];
}
