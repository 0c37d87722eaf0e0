/**
 * Why a service `npm run dev` starts (Postgres, redis-server) could not start, in one line,
 * with what to do about it. Tests' global setup uses the services outside the path aliases,
 * so this depends on nothing of ratchet's; the dev app turns it into a StartupError.
 */
export class ServiceStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceStartError';
  }
}
