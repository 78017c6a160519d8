// Proxy selection for storage traffic (pure, unit-tested): which proxy, if any, a request uses. Platform
// endpoints are never proxied; HttpProxy.* from waagent.conf wins over the environment's *_proxy, and
// no_proxy excludes targets. Used by http.ts (the client) and by the extensions' proxy environment.
import { log, redact } from '../util/logger.ts';

export interface ProxyConfig {
  /** waagent.conf HttpProxy.Host: a host name, or a URL that may carry user:password@. */
  host?: string;
  /** waagent.conf HttpProxy.Port. */
  port?: number;
}

/** Hosts that are platform endpoints: never proxied, whatever the caller asked. */
const ALWAYS_DIRECT = new Set(['168.63.129.16', '169.254.169.254']);

/**
 * The proxy URL (with credentials, if any) to use for `target`, or null for a direct connection.
 * Precedence as the Python agent: conf HttpProxy.Host(+Port), else https_proxy/HTTPS_PROXY for https URLs,
 * http_proxy/HTTP_PROXY for http URLs (lower case first); no_proxy/NO_PROXY excludes targets.
 * DEVIATION (on purpose): the Python agent silently disables a proxy whose URL has no explicit port; we use
 * the proxy scheme's default port (80 for http://, 443 for https://), which is what curl and every other
 * client do, so a proxy the admin configured is not ignored.
 */
export function selectProxy(target: string, conf: ProxyConfig = {}, env: NodeJS.ProcessEnv = process.env, extraDirect: Iterable<string> = []): string | null {
  let u: URL;
  try { u = new URL(target); } catch { return null; }
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (ALWAYS_DIRECT.has(host) || new Set(extraDirect).has(host)) return null;
  if (bypassedByNoProxy(host, env.no_proxy ?? env.NO_PROXY ?? '')) return null;

  let raw: string | undefined;
  if (conf.host && conf.host.trim()) {
    raw = confProxyUrl(conf) ?? undefined;
    if (raw === undefined) return null;
  } else if (u.protocol === 'https:') {
    raw = env.https_proxy ?? env.HTTPS_PROXY;
  } else if (u.protocol === 'http:') {
    raw = env.http_proxy ?? env.HTTP_PROXY;
  }
  if (!raw || !raw.trim()) return null;
  const r = raw.trim();
  const p = safeUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(r) ? r : `http://${r}`);
  if (!p || (p.protocol !== 'http:' && p.protocol !== 'https:')) {
    log.once('WARNING', `bad-proxy:${redact(r)}`, `ignoring a proxy setting that is not an http(s) URL`);
    return null;
  }
  // An empty port means the scheme's default (80 / 443): the URL parser drops explicit default ports.
  return p.href.replace(/\/$/, '');
}

/**
 * HttpProxy.Host(+Port) as one URL: the host may already carry a scheme (`http://proxy`), credentials or
 * a port of its own (which wins over HttpProxy.Port); a bare host gets `http://`. Null when unusable.
 */
export function confProxyUrl(conf: ProxyConfig): string | null {
  const h = (conf.host ?? '').trim();
  if (!h) return null;
  const p = safeUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(h) ? h : `http://${h}`);
  if (!p || (p.protocol !== 'http:' && p.protocol !== 'https:') || !p.hostname) return null;
  if (conf.port && !p.port) p.port = String(conf.port);
  return p.href.replace(/\/$/, '');
}

function safeUrl(s: string): URL | null {
  try { return new URL(s); } catch { return null; }
}

/** no_proxy rules of docs/protocol.md §4: CIDR or equal IP for IPv4 targets, case-insensitive suffix for names. */
export function bypassedByNoProxy(host: string, noProxy: string): boolean {
  const entries = noProxy.replace(/\s+/g, '').split(',').filter(Boolean);
  if (entries.length === 0) return false;
  const ip = parseIpv4(host);
  for (const raw of entries) {
    const e = raw.toLowerCase();
    if (e === '*') return true;
    if (ip !== null) {
      const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(e);
      if (!m) continue;
      const net = parseIpv4(m[1]!);
      if (net === null) continue;
      if (m[2] === undefined) { if (net === ip) return true; continue; }
      const bits = Number(m[2]);
      if (bits < 1 || bits > 32) continue;
      const mask = bits === 32 ? 0xffffffff : (~(0xffffffff >>> bits)) >>> 0;
      if (((ip & mask) >>> 0) === ((net & mask) >>> 0)) return true;
    } else if (host.endsWith(e.replace(/^\*/, ''))) {
      return true;
    }
  }
  return false;
}

function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((n) => n > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

// ---------------------------------------------------------------------------------------------------
// The real client

