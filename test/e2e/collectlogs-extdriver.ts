// Runs ONE extension pass the way the agent's extension handler would, with the machine's real
// defaults (Lib.Dir /var/lib/waagent, Extension.LogDir /var/log/azure, log file /var/log/waagent.log):
// goal state from the WireServer at 168.63.129.16, the extension downloaded, installed and enabled
// (it decrypts its protected settings), the status blob uploaded. Only for use INSIDE the
// VM-in-a-box (the -run-exthandlers command is not in the binary yet): it talks to the Azure
// addresses, which only the box's simulator answers. Prints {status, handler} as JSON on stdout.
import { AzureProtocol } from '../../src/platform/protocol.ts';
import { HttpClient } from '../../src/platform/http.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { ExtensionsExecutor } from '../../src/extensions/executor.ts';
import { platformArtifactSource } from '../../src/extensions/artifacts.ts';
import { aggregateStatusJson, crpSupportedFeatures } from '../../src/extensions/aggregate.ts';
import { readdirSync } from 'node:fs';
import { FileAppender, log } from '../../src/util/logger.ts';

// Network safety: a box's network namespace has only lo. Anywhere else, refuse to send anything.
const ifaces = readdirSync('/sys/class/net');
if (ifaces.length !== 1 || ifaces[0] !== 'lo') {
  process.stderr.write(`collectlogs-extdriver: refusing to run outside the VM-in-a-box (interfaces: ${ifaces.join(' ')})\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  log.thread = 'ExtHandler';
  log.prefix = 'ExtHandler';
  log.appenders = [new FileAppender('/var/log/waagent.log', 'VERBOSE')];
  const libDir = '/var/lib/waagent';
  const http = new HttpClient({ env: {}, directHosts: ['168.63.129.16'] });
  try {
    const p = new AzureProtocol({ endpoint: '168.63.129.16', libDir, transport: http, openssl: new OpenSsl('openssl') });
    const poll = await p.detect();
    const egs = poll.extensions;
    const ex = new ExtensionsExecutor({
      roots: { libDir, extLogDir: '/var/log/azure' }, wireServer: '168.63.129.16',
      artifacts: platformArtifactSource(p.artifacts, { fastTrack: egs.source === 'FastTrack' }),
      baseEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, statusRead: { retryDelayMs: 0 },
    });
    const agg = await ex.process(egs);
    const reports = await ex.report(egs);
    const blob = aggregateStatusJson({ handlers: reports, goalState: agg, guestOS: { computerName: 'box', osName: 'debian', osVersion: '12' }, features: crpSupportedFeatures({ fastTrack: poll.fastTrackSupported }) });
    const up = await p.uploadStatus(blob);
    log.info(`status uploaded: ${up.ok}`);
    process.stdout.write(`${JSON.stringify({ status: agg.status, uploaded: up.ok, handler: reports[0]?.handler.status ?? null })}\n`);
  } finally {
    await http.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`collectlogs-extdriver: ${String(e instanceof Error ? e.stack : e)}\n`);
  process.exitCode = 1;
});
