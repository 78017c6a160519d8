// Helpers for reading Azure's XML documents the way the Python agent does (DOM getElementsByTagName:
// first match anywhere, namespaces ignored), turning every failure into a DocumentError naming the
// document and the element.
import { parseXml, XmlError, type XmlElement } from '../util/xml.ts';
import { DocumentError } from './errors.ts';

export type { XmlElement };

/** Parses with tight limits; malformed input becomes a DocumentError. */
export function parseDoc(text: string | Buffer, doc: string, maxBytes = 1 << 20): XmlElement {
  try {
    return parseXml(text, doc, { maxBytes, maxDepth: 32, maxElements: 50_000 });
  } catch (e) {
    if (e instanceof XmlError) throw new DocumentError(doc, `malformed XML: ${e.message.slice(doc.length + 2)}`, e.element);
    throw e;
  }
}

/** First descendant (depth-first, document order) with this local name. */
export function first(el: XmlElement | undefined, local: string): XmlElement | undefined {
  if (!el) return undefined;
  for (const c of el.children) {
    if (c.local === local) return c;
    const d = first(c, local);
    if (d) return d;
  }
  return undefined;
}

/** All descendants with this local name, in document order. */
export function all(el: XmlElement | undefined, local: string, out: XmlElement[] = []): XmlElement[] {
  if (!el) return out;
  for (const c of el.children) {
    if (c.local === local) out.push(c);
    all(c, local, out);
  }
  return out;
}

/** Trimmed text of the first descendant, or undefined. */
export function firstText(el: XmlElement | undefined, local: string): string | undefined {
  const f = first(el, local);
  return f ? f.text.trim() : undefined;
}

export function requireFirst(el: XmlElement, doc: string, local: string): string {
  const t = firstText(el, local);
  if (t === undefined || t === '') throw new DocumentError(doc, 'missing required element', local);
  return t;
}

export function expectRoot(el: XmlElement, doc: string, local: string): void {
  if (el.local !== local) throw new DocumentError(doc, `root element is <${el.local}>, expected <${local}>`, el.local);
}

export function isTrue(s: string | undefined): boolean {
  return (s ?? '').trim().toLowerCase() === 'true';
}
