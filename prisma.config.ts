import path from 'node:path';
import { defineConfig } from 'prisma/config';

// The Prisma CLI downloads a native schema engine on every command unless one is named.
// `validate` and `format` never run it, so a stub that fails keeps the CLI offline-safe.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ||= path.join(__dirname, 'scripts', 'no-schema-engine.sh');

export default defineConfig({
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
});
