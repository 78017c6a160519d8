// The three pieces of undici the agent uses: Agent, ProxyAgent and request(). Importing the
// package's index pulls in fetch, WebSocket, EventSource, cache stores and more (about 520 KB of a
// 875 KB bundle), which the binary-size budget (stripped Node + 1 MB) cannot afford. The deep
// paths are those of the pinned undici version in package.json; the integration tests over
// 127.0.0.1 (plain, proxied with credentials, CONNECT) exercise every piece used here.
import type * as Undici from 'undici';
import AgentImpl from 'undici/lib/dispatcher/agent.js';
import ProxyAgentImpl from 'undici/lib/dispatcher/proxy-agent.js';
import DispatcherImpl from 'undici/lib/dispatcher/dispatcher.js';
import apiRequest from 'undici/lib/api/api-request.js';
import apiConnect from 'undici/lib/api/api-connect.js';

// What undici's index does, for the two methods anything here calls: dispatchers get `request` (ours)
// and `connect` (ProxyAgent's CONNECT tunnel calls it on its client). Nothing in undici's Agent,
// ProxyAgent, Pool or Client path calls stream/pipeline/upgrade, so their modules are not bundled.
Object.assign((DispatcherImpl as unknown as { prototype: object }).prototype, { request: apiRequest, connect: apiConnect });

export const Agent = AgentImpl as unknown as typeof Undici.Agent;
export const ProxyAgent = ProxyAgentImpl as unknown as typeof Undici.ProxyAgent;

type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Undici.Dispatcher };

/** undici.request(url, opts) for an explicit dispatcher (we never use a global one). */
export function request(url: string, opts: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const u = new URL(url);
  const { dispatcher, ...rest } = opts;
  return dispatcher.request({ ...rest, origin: u.origin, path: `${u.pathname}${u.search}` } as Undici.Dispatcher.RequestOptions);
}
