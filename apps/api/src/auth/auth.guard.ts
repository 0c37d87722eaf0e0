import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiKeysRepository, type Principal } from '@ratchet/store';
import type { Request } from 'express';
import { authenticateBearer } from './bearer';
import { IS_PUBLIC } from './public.decorator';

export interface AuthenticatedRequest extends Request {
  principal: Principal;
}

/** `Authorization: Bearer <key>` on every route not marked @Public. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysRepository,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    request.principal = await authenticateBearer(request.headers.authorization, this.keys);
    return true;
  }
}
