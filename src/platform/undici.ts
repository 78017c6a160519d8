// The three pieces of undici the agent uses: Agent, ProxyAgent and request(). Importing the
// package's index pulls in fetch, WebSocket, EventSource, cache stores and more (about 520 KB of a
// 875 KB bundle), which the binary-size budget (stripped Node + 1 MB) cannot afford. The deep
// paths are those of the pinned undici version in package.json; the integration tests over
// 127.0.0.1 (plain, proxied with credentials, CONNECT) exercise every piece used here.
import type * as Undici from 'undici';
import AgentImpl from 'undici/lib/dispatcher/agent.js';
import ProxyAgentImpl from 'undici/lib/dispatcher/proxy-agent.js';
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

// What undici's index does: dispatchers get request/stream/pipeline/upgrade/connect as methods
// (ProxyAgent's CONNECT tunnel calls `connect` on its client).
Object.assign((DispatcherImpl as unknown as { prototype: object }).prototype, api);

export const Agent = AgentImpl as unknown as typeof Undici.Agent;
export const ProxyAgent = ProxyAgentImpl as unknown as typeof Undici.ProxyAgent;

type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Undici.Dispatcher };

/** undici.request(url, opts) for an explicit dispatcher (we never use a global one). */
export function request(url: string, opts: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const u = new URL(url);
  const { dispatcher, ...rest } = opts;
  return dispatcher.request({ ...rest, origin: u.origin, path: `${u.pathname}${u.search}` } as Undici.Dispatcher.RequestOptions);
}
