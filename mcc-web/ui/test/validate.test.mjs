// The form checks of ../../www/validate.js against the rules of mcc-core's parsers
// (cert/mod.rs Target::parse_list, id.rs NodeId::from_str). Run: node --test mcc-web/ui/test
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseTargets, nodeIdError, parseDnsNames } from '../../www/validate.js';

test('targets the core accepts', () => {
  assert.deepEqual(parseTargets('tcp:80,udp:53,icmp').targets, ['tcp:80', 'udp:53', 'icmp']);
  // mcc-core's own edge cases: any case, blanks and empty entries skipped, icmp:0.
  assert.deepEqual(parseTargets('ICMP, Tcp:22,,').targets, ['icmp', 'tcp:22']);
  assert.deepEqual(parseTargets('icmp:0').targets, ['icmp']);
  assert.deepEqual(parseTargets('tcp:65535').targets, ['tcp:65535']);
  const sixteen = Array.from({ length: 16 }, (_, i) => `udp:${i + 1}`).join(',');
  assert.equal(parseTargets(sixteen).targets.length, 16);
});

test('targets the core refuses', () => {
  for (const bad of ['icmp:5', 'tcp', 'tcp:0', 'tcp:65536', 'tcp:99999', 'ssh:22', 'tcp:80x', ' , ', '', 'tcp:-1']) {
    assert.ok(parseTargets(bad).error, `\`${bad}\` should be refused`);
  }
  assert.match(parseTargets('tcp:80-90').error, /not ranges/);
  const seventeen = Array.from({ length: 17 }, (_, i) => `udp:${i + 1}`).join(',');
  assert.equal(parseTargets(seventeen).error, 'at most 16 targets per tunnel');
});

test('node IDs', () => {
  // 52 Crockford base32 characters; the last one carries 1 bit and 4 zero bits.
  const id = 'jhd2m7mnqmr8h7hnw7hj680tjcj67dz2kk01krefbzrg40v887s0';
  assert.equal(nodeIdError(id), null);
  assert.equal(nodeIdError(id.slice(0, 51) + 'g'), null);
  assert.equal(nodeIdError(id.toUpperCase()), null);
  // The example of mcc-core/src/id.rs's own test.
  assert.equal(nodeIdError('3zb3xe4gh757dnhdsyrzxxv6efvpgkzg82m08a8w88a5sf48w7x0'), null);
  // i and l read as 1, o as 0 (Crockford), as the core decodes them.
  assert.equal(nodeIdError('o' + id.slice(1)), null);
  assert.match(nodeIdError(id.slice(0, 51) + '1'), /non-canonical/);
  assert.match(nodeIdError(id.slice(1)), /52 base32 characters/);
  assert.match(nodeIdError('u' + id.slice(1)), /position 0/);
  assert.match(nodeIdError(id.slice(0, 10) + '-' + id.slice(11)), /position 10/);
});

test('DNS names', () => {
  assert.deepEqual(parseDnsNames(' web, db.lan ,,').names, ['web', 'db.lan']);
  assert.deepEqual(parseDnsNames('').names, []);
  assert.ok(parseDnsNames('bad name').error);
  assert.ok(parseDnsNames('-web').error);
});
