import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Principal } from '@ratchet/store';
import type { AuthenticatedRequest } from './auth.guard';

/** The caller the AuthGuard identified. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().principal,
);
