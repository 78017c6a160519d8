// The executor's network side over the platform's ArtifactFetcher: extension manifests (direct, then the
// HostGAPlugin's /extensionArtifact) and packages streamed to <Name>__<Ver>.zip with a size cap, never
// held in memory. The manifest URI that worked is sent as x-ms-artifact-manifest-location with the package.
// Validation happens inside each attempt (the fetcher's `accept`): a manifest that is not valid XML, or a
// package the caller cannot extract, fails that channel and the next one is tried.
import { closeSync, openSync, writeSync, constants } from 'node:fs';
import type { ArtifactFetcher } from '../platform/artifacts.ts';
import { parseManifest } from '../platform/manifest.ts';
import type { ExtensionHandler, ManifestVersion } from '../platform/types.ts';
import type { ArtifactSource } from './download.ts';
import { crashPoint } from './crashpoint.ts';
import { PolicyBlockedError } from './policy/messages.ts';
import { collectYoung } from '../util/memory.ts';

/** Largest manifest we accept (real ones are a few KiB). */
export const MAX_MANIFEST_XML_BYTES = 1 << 20;
/** Bytes downloaded between two young-generation collections (see onChunk). */
const COLLECT_EVERY = 1 << 20;
/** Largest package we download; must stay within PACKAGE_LIMITS.maxArchiveBytes of package.ts. */
export const MAX_PACKAGE_BYTES = 512 << 20;

export interface PlatformArtifactOptions {
  /**
   * The goal state being processed is Fast Track: HGAP verifies downloads against the artifacts blob.
   * A function lets one long-lived source follow the current goal state.
   */
  fastTrack?: boolean | (() => boolean);
  maxPackageBytes?: number;
  budgetMs?: number;
}

export function platformArtifactSource(fetcher: ArtifactFetcher, o: PlatformArtifactOptions = {}): ArtifactSource {
  const manifestUriUsed = new Map<string, string>();
  const ft = () => (typeof o.fastTrack === 'function' ? o.fastTrack() : !!o.fastTrack);
  return {
    async fetchManifest(handler: ExtensionHandler): Promise<ManifestVersion[]> {
      let versions: ManifestVersion[] = [];
      const r = await fetcher.fetch({
        uris: handler.manifestUris, doc: `${handler.name} manifest`, maxBytes: MAX_MANIFEST_XML_BYTES, fastTrack: ft(), budgetMs: o.budgetMs,
        accept: (res) => {
          let text = res.body.toString('utf8');
          if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
          versions = parseManifest(text, `${handler.name} manifest`).versions;
        },
      });
      manifestUriUsed.set(handler.name, r.uri);
      return versions;
    },
    async downloadPackage<T>(uri: string, dest: string, handler: ExtensionHandler, accept: () => Promise<T>): Promise<T> {
      let fd = -1;
      const open = () => {
        if (fd >= 0) closeSync(fd);
        // Each attempt starts the file again (O_TRUNC); never follow a planted symlink.
        fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
      };
      let result: { v: T } | undefined;
      let refused: PolicyBlockedError | undefined;
      let received = 0;
      try {
        await fetcher.fetch({
          uris: [uri], doc: `${handler.name} package`, maxBytes: o.maxPackageBytes ?? MAX_PACKAGE_BYTES, fastTrack: ft(),
          manifestLocation: manifestUriUsed.get(handler.name), budgetMs: o.budgetMs,
          onStart: open,
          onChunk: (chunk: Buffer) => {
            if (fd < 0) open();
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            crashPoint('ext-download');
            // Each chunk the socket delivers is a new buffer V8 counts only as external memory: collect the
            // dead ones every few MiB instead of letting ~64 MiB pile up (and stay in the malloc heap).
            received += chunk.length;
            if (received >= COLLECT_EVERY) { received = 0; collectYoung(); }
          },
          accept: async () => {
            if (fd < 0) open(); // an empty body still leaves a (bad) file for the zip reader to refuse
            closeSync(fd);
            fd = -1;
            try {
              result = { v: await accept() };
            } catch (e) {
              // A policy refusal (signature) is about the package, not the channel: no other channel is tried.
              if (!(e instanceof PolicyBlockedError)) throw e;
              refused = e;
            }
          },
        });
      } finally {
        if (fd >= 0) closeSync(fd);
      }
      if (refused) throw refused;
      if (!result) throw new Error(`${handler.name} package: no attempt was accepted`);
      return result.v;
    },
  };
}
