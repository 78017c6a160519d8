import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseXml, textAt, child, XmlError, requireText } from '../../src/util/xml.ts';

test('namespaces are resolved, prefixes do not matter', () => {
  const a = parseXml('<e:Env xmlns:e="urn:x"><e:A>1</e:A></e:Env>', 'a.xml');
  const b = parseXml('<Env xmlns="urn:x"><A>1</A></Env>', 'b.xml');
  assert.equal(a.ns, 'urn:x');
  assert.equal(b.ns, 'urn:x');
  assert.equal(child(a, 'A', 'urn:x')?.text, '1');
  assert.equal(child(b, 'A', 'urn:x')?.text, '1');
  assert.equal(child(b, 'A', 'urn:other'), undefined);
});

test('bad documents name the source, line and column', () => {
  assert.throws(() => parseXml('<a>\n<b></a>', 'GoalState'), (e: unknown) => {
    assert.ok(e instanceof XmlError);
    assert.match(e.message, /^GoalState: /);
    assert.equal(e.line, 2);
    return true;
  });
  assert.throws(() => parseXml('', 'empty.xml'), /empty.xml/);
  assert.throws(() => parseXml('<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 'dtd.xml'), /DOCTYPE/);
});

test('huge and deep input is refused', () => {
  assert.throws(() => parseXml('<a>' + 'x'.repeat(100) + '</a>', 'big', { maxBytes: 50 }), /over the limit/);
  assert.throws(() => parseXml('<a>'.repeat(100) + '</a>'.repeat(100), 'deep'), /nesting deeper/);
  assert.throws(() => parseXml('<a>' + '<b/>'.repeat(20) + '</a>', 'many', { maxElements: 10 }), /more than 10 elements/);
});

test('requireText names the missing path', () => {
  const gs = parseXml('<GoalState><Incarnation> 3 </Incarnation></GoalState>', 'GoalState');
  assert.equal(textAt(gs, 'Incarnation'), '3');
  assert.throws(() => requireText(gs, 'GoalState', 'Container', 'ContainerId'), /GoalState: missing required element GoalState\/Container\/ContainerId/);
});
