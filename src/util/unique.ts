// Names that must not collide but are not secrets: temp files (always created O_EXCL|O_NOFOLLOW, in
// root-owned directories), systemd scope names, HTTP correlation ids. Math.random rather than a
// CSPRNG: cheap and without a file descriptor. Secrets (password salts) use src/crypto/random.ts
// (/dev/urandom); nothing in src/ loads node:crypto (see src/util/builtins.ts).

/** `n` random lower-case hex characters. */
export function randomHex(n: number): string {
  let s = '';
  while (s.length < n) s += Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return s.slice(0, n);
}

/** A version-4-shaped UUID for correlation ids and unit names (not for anything secret). */
export function randomId(): string {
  const h = randomHex(32);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
