import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import type { AuthenticatedRequest } from '../auth/auth.guard';

/**
 * Admin routes exist only for admin keys: a tenant key gets the answer an unknown route gets
 * (a 404 naming the URL), never a hint that there is something it may not do. Runs after the
 * AuthGuard, so callers without a valid key still get its 401.
 */
@Injectable()
export class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (!request.principal?.admin) throw new NotFoundException();
    return true;
  }
}
