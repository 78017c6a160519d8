// Types for the undici internals imported by src/platform/undici.ts (the package ships types only for its index).
declare module 'undici/lib/dispatcher/agent.js' { const Agent: unknown; export default Agent; }
declare module 'undici/lib/dispatcher/proxy-agent.js' { const ProxyAgent: unknown; export default ProxyAgent; }
declare module 'undici/lib/dispatcher/dispatcher.js' { const Dispatcher: unknown; export default Dispatcher; }
declare module 'undici/lib/api/api-request.js' { const request: unknown; export default request; }
declare module 'undici/lib/api/api-connect.js' { const connect: unknown; export default connect; }
