/*
 * Passwords the console suggests when creating a user or resetting one.
 */

/** 16 characters from a 56-letter alphabet without look-alikes (about 93 bits); rejection sampling keeps it uniform. */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const limit = 256 - (256 % alphabet.length);
  const out: string[] = [];
  for (let round = 0; round < 8 && out.length < 16; round++) {
    for (const b of crypto.getRandomValues(new Uint8Array(32))) {
      if (b < limit && out.length < 16) out.push(alphabet[b % alphabet.length]!);
    }
  }
  return out.join('');
}
