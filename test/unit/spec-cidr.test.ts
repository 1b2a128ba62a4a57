import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  aligned,
  containsAddress,
  containsCidr,
  firstFreeBlock,
  formatCidr,
  formatIPv4,
  hasHostBits,
  lastAddress,
  networkAddress,
  overlaps,
  parseCidr,
  parseIPv4,
  specialAddressKind,
  type Cidr,
} from '../../src/spec/cidr.js';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  assert.ok(parsed.ok, `${text} should parse`);
  return parsed.value;
}

function ip(text: string): number {
  const parsed = parseIPv4(text);
  assert.ok(parsed.ok, `${text} should parse`);
  return parsed.value;
}

describe('parseIPv4', () => {
  it('reads dotted quads as unsigned 32-bit numbers', () => {
    assert.equal(ip('0.0.0.0'), 0);
    assert.equal(ip('10.0.0.1'), 0x0a000001);
    assert.equal(ip('255.255.255.255'), 0xffffffff);
    assert.equal(formatIPv4(ip('192.168.10.200')), '192.168.10.200');
  });

  it('rejects octets above 255, leading zeros and wrong shapes, saying why', () => {
    assert.deepEqual(parseIPv4('10.0.0.256'), {
      ok: false,
      reason: 'has 256, which is above 255; each of the four numbers must be 0-255',
    });
    assert.deepEqual(parseIPv4('10.01.0.0'), {
      ok: false,
      reason: 'has a leading zero in "01"; write each number without leading zeros',
    });
    for (const text of ['10.0.0', '10.0.0.0.0', 'a.b.c.d', '', '1.2.3.4/32', ' 1.2.3.4']) {
      assert.equal(parseIPv4(text).ok, false, text);
    }
  });
});

describe('parseCidr', () => {
  it('reads address and prefix', () => {
    assert.deepEqual(cidr('10.0.0.0/16'), { address: 0x0a000000, prefix: 16 });
    assert.deepEqual(cidr('0.0.0.0/0'), { address: 0, prefix: 0 });
    assert.equal(formatCidr(cidr('10.0.128.0/24')), '10.0.128.0/24');
  });

  it('rejects bad syntax, prefixes above 32 and bad octets', () => {
    const noPrefix = parseCidr('10.0.0.0');
    assert.ok(!noPrefix.ok && /not a CIDR block/.test(noPrefix.reason));
    assert.deepEqual(parseCidr('10.0.0.0/33'), { ok: false, reason: 'has prefix length 33; IPv4 prefix lengths are 0 to 32' });
    assert.equal(parseCidr('10.0.0.300/24').ok, false);
    assert.equal(parseCidr('10.0.0.0/08').ok, false);
    assert.equal(parseCidr('10.0.0.0/').ok, false);
    assert.equal(parseCidr('10.0.0.0/16 ').ok, false);
  });
});

describe('network arithmetic', () => {
  it('finds host bits and the aligned block', () => {
    assert.equal(hasHostBits(cidr('10.0.0.1/24')), true);
    assert.equal(hasHostBits(cidr('10.0.0.0/24')), false);
    assert.equal(hasHostBits(cidr('10.0.0.1/32')), false);
    assert.equal(formatCidr(aligned(cidr('10.0.3.7/22'))), '10.0.0.0/22');
    assert.equal(formatIPv4(networkAddress(cidr('172.16.5.4/12'))), '172.16.0.0');
    assert.equal(formatIPv4(lastAddress(cidr('10.0.0.0/16'))), '10.0.255.255');
    assert.equal(formatIPv4(lastAddress(cidr('0.0.0.0/0'))), '255.255.255.255');
  });

  it('tells containment and overlap apart', () => {
    const vpc = cidr('10.0.0.0/16');
    assert.equal(containsCidr(vpc, cidr('10.0.1.0/24')), true);
    assert.equal(containsCidr(vpc, cidr('10.0.0.0/16')), true);
    assert.equal(containsCidr(vpc, cidr('10.1.0.0/24')), false);
    assert.equal(containsCidr(cidr('10.0.0.0/24'), cidr('10.0.0.0/23')), false);
    assert.equal(containsAddress(vpc, ip('10.0.200.3')), true);
    assert.equal(containsAddress(vpc, ip('10.1.0.0')), false);

    assert.equal(overlaps(cidr('10.0.0.0/23'), cidr('10.0.1.0/24')), true);
    assert.equal(overlaps(cidr('10.0.1.0/24'), cidr('10.0.0.0/23')), true);
    assert.equal(overlaps(cidr('10.0.0.0/24'), cidr('10.0.1.0/24')), false);
    assert.equal(overlaps(cidr('0.0.0.0/0'), cidr('192.168.0.0/16')), true);
  });

  it('suggests the first free block of a size', () => {
    const vpc = cidr('10.0.0.0/16');
    const taken = [cidr('10.0.0.0/24'), cidr('10.0.1.0/24'), cidr('10.0.2.0/23')];
    assert.equal(formatCidr(firstFreeBlock(vpc, 24, taken)!), '10.0.4.0/24');
    assert.equal(formatCidr(firstFreeBlock(vpc, 23, taken)!), '10.0.4.0/23');
    assert.equal(firstFreeBlock(vpc, 15, taken), undefined);
    assert.equal(firstFreeBlock(cidr('10.0.0.0/28'), 28, [cidr('10.0.0.0/28')]), undefined);
  });
});

describe('specialAddressKind', () => {
  it('names addresses that cannot be an internet host', () => {
    assert.match(specialAddressKind(ip('0.0.0.0'))!, /this network/);
    assert.match(specialAddressKind(ip('127.0.0.1'))!, /loopback/);
    assert.match(specialAddressKind(ip('169.254.169.254'))!, /link-local/);
    assert.match(specialAddressKind(ip('224.0.0.1'))!, /multicast/);
    assert.match(specialAddressKind(ip('239.255.255.250'))!, /multicast/);
    assert.equal(specialAddressKind(ip('255.255.255.255')), 'the broadcast address');
    assert.match(specialAddressKind(ip('240.0.0.1'))!, /reserved/);
  });

  it('accepts ordinary public addresses', () => {
    for (const text of ['8.8.8.8', '1.1.1.1', '8.8.4.4', '203.0.113.10']) {
      assert.equal(specialAddressKind(ip(text)), undefined, text);
    }
  });
});
