import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

// Sealing: AES-256-GCM under the deployment's key, for values ratchet hands to clients that
// must come back unread and unaltered (compaction summaries), or keeps that must not lie
// about in the clear (credentials). A sealed value is base64url of
//
//   version (1 byte) | key id (4) | IV (12) | GCM tag (16) | ciphertext
//
// The version, the key id and a purpose (what the value is, e.g. "compaction") are
// authenticated with it, so a value opens only as what it was sealed as, under the key it
// was sealed with. The key id (the first bytes of an HMAC of the key) tells "sealed under
// another key" apart from "altered" without saying anything about the key.

const VERSION = 1;
const KEY_ID_BYTES = 4;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES;
const MIN_SEALED_BYTES = HEADER_BYTES + IV_BYTES + TAG_BYTES;

/** A sealing key's length: AES-256. */
export const SEALING_KEY_BYTES = 32;

/** Why a sealed value did not open. */
export type UnsealFailure =
  /** Not a sealed value at all (not base64url, too short, an unknown version). */
  | 'malformed'
  /** Sealed under another key: another deployment's, or a RATCHET_SECRET_KEY since changed. */
  | 'other_key'
  /** Sealed under this key but altered since, or sealed for another purpose. */
  | 'tampered';

export type Unsealed = { ok: true; plaintext: string } | { ok: false; reason: UnsealFailure };

function keyId(key: Buffer): Buffer {
  return createHmac('sha256', key)
    .update('ratchet sealing key id')
    .digest()
    .subarray(0, KEY_ID_BYTES);
}

function additionalData(header: Buffer, purpose: string): Buffer {
  return Buffer.concat([header, Buffer.from(purpose, 'utf8')]);
}

function assertKey(key: Buffer): void {
  if (key.length !== SEALING_KEY_BYTES) {
    throw new Error(`A sealing key has ${SEALING_KEY_BYTES} bytes, not ${key.length}.`);
  }
}

/** Seals `plaintext` for `purpose` under `key`. */
export function sealWith(key: Buffer, purpose: string, plaintext: string): string {
  assertKey(key);
  const header = Buffer.concat([Buffer.from([VERSION]), keyId(key)]);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(additionalData(header, purpose));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
}

/** Opens a value `sealWith` sealed for `purpose` under `key`; says why when it does not open. */
export function unsealWith(key: Buffer, purpose: string, sealed: string): Unsealed {
  assertKey(key);
  if (!/^[A-Za-z0-9_-]*$/.test(sealed)) return { ok: false, reason: 'malformed' };
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < MIN_SEALED_BYTES || bytes[0] !== VERSION) {
    return { ok: false, reason: 'malformed' };
  }
  const header = bytes.subarray(0, HEADER_BYTES);
  if (!header.subarray(1).equals(keyId(key))) return { ok: false, reason: 'other_key' };
  const iv = bytes.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES);
  const tag = bytes.subarray(HEADER_BYTES + IV_BYTES, MIN_SEALED_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(additionalData(header, purpose));
  decipher.setAuthTag(tag);
  try {
    const plaintext = Buffer.concat([
      decipher.update(bytes.subarray(MIN_SEALED_BYTES)),
      decipher.final(),
    ]);
    return { ok: true, plaintext: plaintext.toString('utf8') };
  } catch {
    return { ok: false, reason: 'tampered' };
  }
}

/** A new random sealing key. */
export function newSealingKey(): Buffer {
  return randomBytes(SEALING_KEY_BYTES);
}

/**
 * Seals and opens values under the deployment's key, which `source` gives (RATCHET_SECRET_KEY,
 * or the key kept in Postgres). The key is fetched on first use and kept; a failed fetch (say,
 * Postgres away) is tried again on the next use.
 */
export class Sealer {
  private key: Promise<Buffer> | null = null;

  constructor(private readonly source: () => Promise<Buffer>) {}

  async seal(purpose: string, plaintext: string): Promise<string> {
    return sealWith(await this.currentKey(), purpose, plaintext);
  }

  async unseal(purpose: string, sealed: string): Promise<Unsealed> {
    return unsealWith(await this.currentKey(), purpose, sealed);
  }

  private currentKey(): Promise<Buffer> {
    this.key ??= this.source()
      .then((key) => {
        assertKey(key);
        return key;
      })
      .catch((error: unknown) => {
        this.key = null;
        throw error;
      });
    return this.key;
  }
}
