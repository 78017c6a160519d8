// The "bare" floor of scripts/bench/daemon.ts: the stripped pinned Node with the SEA's V8 flags doing nothing
// but one 6 s interval timer (the goal-state period). Its RSS is what the runtime alone costs, before any
// agent code or any request. CommonJS, as the SEA runs its bundle.
'use strict';
setInterval(() => {}, 6000);
process.on('SIGTERM', () => process.exit(0));
