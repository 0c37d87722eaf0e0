import type { OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client';

/** The Prisma client over node-postgres (no native engine needed). */
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  constructor(connectionString: string, poolSize = 20) {
    super({ adapter: new PrismaPg({ connectionString, max: poolSize }) });
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}
