// Redaction every log line (and every collected log file) passes through: SAS signatures, PEM
// private keys, JSON/XML secret fields (passwords, protected settings, CustomData) and registered
// secret values are never written.
//
// Every pattern runs in time linear in its input, whatever the input (a log line is partly written
// by anyone who can reach syslog or an extension's output): no pattern has a part that can be
// re-scanned from many start positions. The multi-line ones (a PEM key, an XML secret element)
// that are not closed drop a bounded span after their opener, never the rest of the text.

/** Longest span after an unclosed `-----BEGIN ... PRIVATE KEY-----` that is dropped (a 16384-bit RSA key is ~13 KiB). */
export const PEM_SPAN = 64 << 10;
/** Longest span after an unclosed `<UserPassword>`/`<ProtectedSettings>`/`<CustomData>` element that is dropped. */
export const XML_SPAN = 1 << 20;

// The URL part is a run of non-delimiters taken greedily in one go, with the query optional: a run
// without a SAS query still matches (and is given back unchanged by the replacer), so the engine
// never backtracks into it and the next search starts where the run ended.
const SAS_KEYS = 'sv|st|se|sr|sp|sip|spr|sig|skoid|sktid|skt|ske|sks|skv|ss|srt';
const SAS_HINT = new RegExp(`\\?(?:${SAS_KEYS})=`, 'i');
const SAS_RE = new RegExp(`([^\\s?"'<>]+)(\\?(?:${SAS_KEYS})=[^\\s"'<>]*)?`, 'gi');
const URL_RE = /https?:\/\/[^\s?"'<>]/i;
const SIG_RE = /([?&]sig=)[^&\s"'<>]+/gi;
// `[A-Z0-9 ]*` stops at the next '-', so a run of openers is scanned once; an unclosed block
// drops PEM_SPAN characters and the search goes on after them (amortised linear).
const PEM_KEY_RE = new RegExp(`-----BEGIN ([A-Z0-9 ]{0,64})PRIVATE KEY-----(?:[\\s\\S]{0,${PEM_SPAN}}?-----END \\1PRIVATE KEY-----|[\\s\\S]{0,${PEM_SPAN}})`, 'g');
const JSON_SECRET_RE = /("(?:protectedSettings|password|adminPassword|UserPassword|secret|privateKey|customData)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;
// The opener's attributes stop at the next '<' or '>'; the body is bounded like the PEM block.
const XML_SECRET_RE = new RegExp(`(<(?:\\w{1,64}:)?(?:UserPassword|ProtectedSettings|CustomData)\\b[^<>]{0,4096}>)(?:[\\s\\S]{0,${XML_SPAN}}?(</)|[\\s\\S]{0,${XML_SPAN}})`, 'gi');

const secrets = new Set<string>();
let generation = 0;

/** Register a value that must never be written anywhere (a password, a decrypted setting...). */
export function addSecret(value: string | undefined | null): void {
  if (value && value.length >= 4 && !secrets.has(value)) { secrets.add(value); generation++; }
}

/** Changes whenever a secret is registered: a redacted text kept for reuse is valid only for its generation. */
export function secretsGeneration(): number { return generation; }

function sasReplace(m: string, run: string, query: string | undefined): string {
  return query && URL_RE.test(run) ? `${run}?<redacted>` : m;
}

export function redact(text: string): string {
  let out = text;
  if (out.includes('PRIVATE KEY-----')) out = out.replace(PEM_KEY_RE, '<redacted private key>');
  if (SAS_HINT.test(out)) out = out.replace(SAS_RE, sasReplace);
  out = out
    .replace(SIG_RE, '$1<redacted>')
    .replace(JSON_SECRET_RE, '$1"<redacted>"')
    .replace(XML_SECRET_RE, (_m, open: string, close: string | undefined) => `${open}<redacted>${close ?? ''}`);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('<redacted>');
  return out;
}
