// Small IPv4 and CIDR helpers for validating a spec. Addresses are unsigned 32-bit integers;
// every result of bit arithmetic goes through `>>> 0` to stay unsigned.

export interface Cidr {
  /** The address as written, which may have host bits set. */
  address: number;
  /** Prefix length, 0..32. */
  prefix: number;
}

/** Either a value or the reason the text could not be read, phrased to follow the text itself. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Reads a dotted-quad IPv4 address such as "10.0.0.1". Rejects octets above 255 and octets with a
 * leading zero ("010"), which some tools read as octal.
 */
export function parseIPv4(text: string): Parsed<number> {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((part) => !/^[0-9]{1,3}$/.test(part))) {
    return { ok: false, reason: 'is not an IPv4 address; write four numbers from 0 to 255 separated by dots, such as 8.8.8.8' };
  }
  let address = 0;
  for (const part of parts) {
    if (part.length > 1 && part.startsWith('0')) {
      return { ok: false, reason: `has a leading zero in "${part}"; write each number without leading zeros` };
    }
    const octet = Number(part);
    if (octet > 255) {
      return { ok: false, reason: `has ${octet}, which is above 255; each of the four numbers must be 0-255` };
    }
    address = (address * 256 + octet) >>> 0;
  }
  return { ok: true, value: address };
}

/** Reads "a.b.c.d/n". The address may have host bits set; see `hasHostBits`. */
export function parseCidr(text: string): Parsed<Cidr> {
  const match = /^([0-9]{1,3}(?:\.[0-9]{1,3}){3})\/([0-9]{1,2})$/.exec(text);
  if (!match) {
    return { ok: false, reason: 'is not a CIDR block; write an IPv4 address and a prefix length, such as 10.0.0.0/16' };
  }
  const [, addressText = '', prefixText = ''] = match;
  const address = parseIPv4(addressText);
  if (!address.ok) return address;
  if (prefixText.length > 1 && prefixText.startsWith('0')) {
    return { ok: false, reason: `has a leading zero in the prefix length "${prefixText}"; write it without` };
  }
  const prefix = Number(prefixText);
  if (prefix > 32) {
    return { ok: false, reason: `has prefix length ${prefix}; IPv4 prefix lengths are 0 to 32` };
  }
  return { ok: true, value: { address: address.value, prefix } };
}

/** The netmask of a prefix length, e.g. 24 -> 255.255.255.0. */
export function netmask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** The first address of the block, i.e. the address with its host bits cleared. */
export function networkAddress(cidr: Cidr): number {
  return (cidr.address & netmask(cidr.prefix)) >>> 0;
}

/** The last address of the block. */
export function lastAddress(cidr: Cidr): number {
  return (networkAddress(cidr) | ~netmask(cidr.prefix)) >>> 0;
}

/** True when the address is not the block's network address, e.g. 10.0.0.1/24. */
export function hasHostBits(cidr: Cidr): boolean {
  return networkAddress(cidr) !== cidr.address;
}

/** The same block with host bits cleared, e.g. 10.0.0.1/24 -> 10.0.0.0/24. */
export function aligned(cidr: Cidr): Cidr {
  return { address: networkAddress(cidr), prefix: cidr.prefix };
}

/** True when the address lies inside the block. */
export function containsAddress(cidr: Cidr, address: number): boolean {
  return (address & netmask(cidr.prefix)) >>> 0 === networkAddress(cidr);
}

/** True when every address of `inner` lies inside `outer`. */
export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && containsAddress(outer, inner.address);
}

/** True when the two blocks share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return containsAddress(a, networkAddress(b)) || containsAddress(b, networkAddress(a));
}

export function formatIPv4(address: number): string {
  return [address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255].join('.');
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.address)}/${cidr.prefix}`;
}

/**
 * The first block of the given prefix length inside `outer` that overlaps none of `taken`, or
 * undefined when there is none (or the prefix is shorter than outer's). Used to suggest a fix.
 */
export function firstFreeBlock(outer: Cidr, prefix: number, taken: readonly Cidr[]): Cidr | undefined {
  // Searching more than 2^16 candidates is never useful for a hint; VPCs hold /16../28 anyway.
  if (prefix < outer.prefix || prefix > 32 || prefix - outer.prefix > 16) return undefined;
  const size = 2 ** (32 - prefix);
  const start = networkAddress(outer);
  const end = lastAddress(outer);
  for (let address = start; address <= end; address += size) {
    const candidate = { address, prefix };
    if (!taken.some((block) => overlaps(block, candidate))) return candidate;
  }
  return undefined;
}

/** Address ranges a heartbeat target can never be, with what to call them in a message. */
const SPECIAL_RANGES: readonly { block: string; what: string }[] = [
  { block: '0.0.0.0/8', what: 'a "this network" address (0.0.0.0/8)' },
  { block: '127.0.0.0/8', what: 'a loopback address (127.0.0.0/8)' },
  { block: '169.254.0.0/16', what: 'a link-local address (169.254.0.0/16)' },
  { block: '224.0.0.0/4', what: 'a multicast address (224.0.0.0/4)' },
  { block: '255.255.255.255/32', what: 'the broadcast address' },
  { block: '240.0.0.0/4', what: 'a reserved address (240.0.0.0/4)' },
];

/**
 * Says what kind of special address this is when it cannot be a unicast host on the internet
 * (unspecified, loopback, link-local, multicast, broadcast, reserved); undefined otherwise.
 */
export function specialAddressKind(address: number): string | undefined {
  for (const { block, what } of SPECIAL_RANGES) {
    const parsed = parseCidr(block);
    if (parsed.ok && containsAddress(parsed.value, address)) return what;
  }
  return undefined;
}
