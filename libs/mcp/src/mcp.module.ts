import {
  type DynamicModule,
  Inject,
  Logger,
  Module,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { McpClients, type McpClientsOptions } from './mcp-clients';

/**
 * Provides one McpClients for the application and closes its connections at shutdown.
 * `forRoot` takes the options the app derives from its config; the pool logs through Nest.
 */
@Module({})
export class McpModule implements OnApplicationShutdown {
  constructor(@Inject(McpClients) private readonly clients: McpClients) {}

  static forRoot(options: McpClientsOptions = {}): DynamicModule {
    return {
      module: McpModule,
      providers: [
        {
          provide: McpClients,
          useFactory: () => new McpClients({ logger: new Logger('McpClients'), ...options }),
        },
      ],
      exports: [McpClients],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.clients.close();
  }
}
