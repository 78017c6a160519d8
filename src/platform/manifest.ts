// Extension / agent manifest (docs/protocol.md §1.8): PluginVersionManifest -> versions with package URIs.
import type { ExtensionManifest, ManifestVersion } from './types.ts';
import { DocumentError } from './errors.ts';
import { all, expectRoot, first, firstText, isTrue, parseDoc, type XmlElement } from './xmldoc.ts';

export function parseManifest(text: string, doc = 'ExtensionManifest'): ExtensionManifest {
  const root = parseDoc(text, doc);
  expectRoot(root, doc, 'PluginVersionManifest');
  const versions: ManifestVersion[] = [];
  const take = (section: XmlElement | undefined, isInternal: boolean) => {
    for (const p of (section?.children ?? []).filter((c) => c.local === 'Plugin')) {
      const version = firstText(p, 'Version');
      if (!version) throw new DocumentError(doc, 'a Plugin has no Version', `${section!.local}/Plugin/Version`);
      versions.push({
        version,
        uris: all(first(p, 'Uris'), 'Uri').map((u) => u.text.trim()).filter(Boolean),
        disallowMajorVersionUpgrade: isTrue(firstText(p, 'DisallowMajorVersionUpgrade')),
        isInternal,
      });
    }
  };
  take(root.children.find((c) => c.local === 'Plugins'), false);
  take(root.children.find((c) => c.local === 'InternalPlugins'), true);
  return { versions };
}
