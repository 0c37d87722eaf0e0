#!/bin/sh
# Prisma's CLI insists on a native schema engine binary, which it cannot download offline.
# generate/validate/format never run it; commands that would need it fail loudly instead.
echo "ratchet: the native Prisma schema engine is not available; use 'npm run db:migrate'." >&2
exit 1
