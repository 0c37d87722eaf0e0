import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RatchetError } from '@ratchet/core';
import { ApiKeysRepository, type Principal } from '@ratchet/store';
import type { Request } from 'express';
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
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) {
      throw new RatchetError(
        'unauthorized',
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        { code: 'missing_api_key' },
      );
    }
    const principal = await this.keys.authenticate(match[1]);
    if (!principal) {
      throw new RatchetError('unauthorized', 'Incorrect API key provided.', {
        code: 'invalid_api_key',
      });
    }
    request.principal = principal;
    return true;
  }
}
