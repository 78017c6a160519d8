// The 2.15 platform duties the goal-state loop carries besides extensions, built from the configuration:
// JIT remote access (after the status report, on a new incarnation). Kept out of daemon.ts so the daemon
// only wires them.
import type { Invocation } from '../util/invocation.ts';
import type { AzureProtocol } from '../platform/protocol.ts';
import { decryptRemoteAccessPassword } from '../platform/remoteaccess.ts';
import { OpenSsl } from '../crypto/openssl.ts';
import { JitAccounts, RemoteAccessDuty } from './jit.ts';
import { agentOperationEvent, type EventQueue } from './telemetry.ts';
import { errorText, log } from '../util/logger.ts';

export function remoteAccessDuty(ctx: Invocation, protocol: AzureProtocol, libDir: string, events: EventQueue): () => Promise<void> {
  const c = ctx.config;
  const openssl = c.str('OS.OpensslPath') || 'openssl';
  const ossl = new OpenSsl(openssl, ctx.runner);
  const event = (ok: boolean, msg: string) => events.push(agentOperationEvent('RemoteAccessHandling', ok, msg));
  const accounts = new JitAccounts({
    root: ctx.root, runner: ctx.runner,
    decrypt: async (enc) => decryptRemoteAccessPassword(ossl, enc, await protocol.wire.transportPair(), libDir),
    sudoersDir: c.str('OS.SudoersDir'), passwordPath: c.str('OS.PasswordPath'),
    cryptId: c.str('Provisioning.PasswordCryptId'), saltLength: c.int('Provisioning.PasswordCryptSaltLength'), openssl,
    event,
  });
  const duty = new RemoteAccessDuty({
    accounts,
    incarnation: () => protocol.wire.current?.incarnation ?? null,
    fetch: async () => { const gs = protocol.wire.current; return gs ? protocol.wire.fetchRemoteAccess(gs) : null; },
  });
  return async () => {
    try {
      await duty.run();
    } catch (e) {
      const msg = `Exception processing goal state for remote access users: ${errorText(e)}`;
      log.warn(msg);
      event(false, msg);
    }
  };
}
