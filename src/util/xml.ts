// A small element tree over saxes tokens, with namespace-aware lookups and hard limits. Azure's
// documents are small; anything large or deeply nested is hostile or broken and is refused.
import { SaxesParser } from 'saxes';
import { AgentError } from './errors.ts';
import { errorText } from './errors.ts';

export interface XmlElement {
  /** Qualified name as written (may carry a prefix). */
  name: string;
  /** Local name without prefix. */
  local: string;
  /** Namespace URI ('' if none). */
  ns: string;
  /** Attributes by local name (namespaced attributes also under their qualified name). */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside this element (CDATA included), not trimmed. */
  text: string;
  line: number;
  column: number;
}

export interface XmlLimits {
  maxBytes?: number;
  maxDepth?: number;
  maxElements?: number;
}

export class XmlError extends AgentError {
  static override readonly errorName: string = 'XmlError';
  readonly source: string;
  readonly element: string | undefined;
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(source: string, message: string, where: { element?: string; line?: number; column?: number } = {}) {
    const pos = where.line !== undefined ? ` at line ${where.line}, column ${where.column ?? 0}` : '';
    const el = where.element ? ` (element ${where.element})` : '';
    super(`${source}: ${message}${el}${pos}`);
    this.source = source;
    this.element = where.element;
    this.line = where.line;
    this.column = where.column;
  }
}

const DEFAULTS: Required<XmlLimits> = { maxBytes: 4 << 20, maxDepth: 64, maxElements: 100_000 };

export function parseXml(input: string | Buffer, source: string, limits: XmlLimits = {}): XmlElement {
  const lim = { ...DEFAULTS, ...limits };
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > lim.maxBytes) throw new XmlError(source, `document is ${size} bytes, over the limit of ${lim.maxBytes}`);
  let text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let rootEl: XmlElement | null = null;
  let count = 0;
  let failure: XmlError | null = null;
  const fail = (msg: string, element?: string) => {
    if (!failure) failure = new XmlError(source, msg, { element, line: parser.line, column: parser.column });
  };

  parser.on('error', (e) => fail(e.message.replace(/^[^:]*:\d+:\d+: /, '')));
  parser.on('doctype', () => fail('DOCTYPE is not allowed'));
  parser.on('opentag', (node) => {
    if (failure) return;
    if (++count > lim.maxElements) return fail(`more than ${lim.maxElements} elements`);
    if (stack.length >= lim.maxDepth) return fail(`nesting deeper than ${lim.maxDepth}`, node.name);
    const attrs: Record<string, string> = {};
    for (const a of Object.values(node.attributes) as Array<{ name: string; local: string; prefix: string; value: string }>) {
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      attrs[a.local] = a.value;
      if (a.prefix) attrs[a.name] = a.value;
    }
    const el: XmlElement = {
      name: node.name, local: node.local ?? node.name, ns: node.uri ?? '', attrs, children: [], text: '',
      line: parser.line, column: parser.column,
    };
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else if (rootEl) return fail('more than one root element', node.name);
    else rootEl = el;
    stack.push(el);
  });
  parser.on('text', (t) => { if (stack.length) stack[stack.length - 1]!.text += t; });
  parser.on('cdata', (t) => { if (stack.length) stack[stack.length - 1]!.text += t; });
  parser.on('closetag', () => { stack.pop(); });

  try {
    parser.write(text);
    parser.close();
  } catch (e) {
    fail(errorText(e).replace(/^[^:]*:\d+:\d+: /, ''));
  }
  if (failure) throw failure;
  if (!rootEl) throw new XmlError(source, 'no root element');
  return rootEl;
}

/** First child with this local name (and namespace, if given). */
export function child(el: XmlElement | undefined, local: string, ns?: string): XmlElement | undefined {
  return el?.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

export function childrenOf(el: XmlElement | undefined, local: string, ns?: string): XmlElement[] {
  return el ? el.children.filter((c) => c.local === local && (ns === undefined || c.ns === ns)) : [];
}

/** Follows a path of local names: path(root, 'Container', 'RoleInstanceList'). */
export function path(el: XmlElement | undefined, ...locals: string[]): XmlElement | undefined {
  let cur = el;
  for (const l of locals) cur = child(cur, l);
  return cur;
}

/** Trimmed text of the element at the path, or undefined if absent. */
export function textAt(el: XmlElement | undefined, ...locals: string[]): string | undefined {
  const e = path(el, ...locals);
  return e ? e.text.trim() : undefined;
}

/** Like textAt, but a missing or empty element is an XmlError naming the document and the path. */
export function requireText(el: XmlElement, source: string, ...locals: string[]): string {
  const t = textAt(el, ...locals);
  if (t === undefined || t === '') {
    throw new XmlError(source, `missing required element ${[el.local, ...locals].join('/')}`, {
      element: locals.join('/'), line: el.line, column: el.column,
    });
  }
  return t;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}
