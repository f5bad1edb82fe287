// Form checks mirroring mcc-core's parsers, so the form says what is wrong before the
// request is sent (the server checks again).

// mcc-core/src/id.rs: a node ID is an Ed25519 key, 52 characters of Crockford base32
// (lowercase `0-9a-z` without i, l, o, u; i and l read as 1, o as 0, any case).
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
export const ID_LEN = 52;

/** null when `s` is a valid node ID, else why not (the core's wording). */
export function nodeIdError(s) {
  if (s.length !== ID_LEN) return `a node ID is ${ID_LEN} base32 characters (this is ${s.length})`;
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s[i].toLowerCase();
    if (c === 'i' || c === 'l') c = '1';
    else if (c === 'o') c = '0';
    const v = ALPHABET.indexOf(c);
    if (v < 0) return `invalid base32 character at position ${i}`;
    last = v;
  }
  // 256 bits = 51 characters of 5 bits + 1 bit: the last character's low 4 bits are padding.
  if ((last & 15) !== 0) return 'non-canonical node ID (last character)';
  return null;
}

// mcc-core/src/cert/mod.rs Target::parse_list: `tcp:PORT`, `udp:PORT`, `icmp` (or
// `icmp:0`), comma-separated, any case, empty entries skipped, 1..=16 entries. The core has
// no port ranges: a range is refused here with that reason rather than sent.
export const MAX_TARGETS = 16;

/** { targets: [..normalised] } or { error }. */
export function parseTargets(s) {
  const out = [];
  for (const raw of s.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const m = /^([A-Za-z]+)(?::(.*))?$/.exec(item);
    const proto = m ? m[1].toLowerCase() : '';
    const port = m ? m[2] : undefined;
    if (proto === 'icmp' && (port === undefined || port === '0')) {
      out.push('icmp');
      continue;
    }
    if ((proto === 'tcp' || proto === 'udp') && port !== undefined) {
      if (/^\d+\s*-\s*\d+$/.test(port)) {
        return { error: `invalid target \`${item}\`: mcc tunnels take single ports, not ranges (write ${proto}:PORT for each)` };
      }
      if (/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535) {
        out.push(`${proto}:${Number(port)}`);
        continue;
      }
    }
    return { error: `invalid target \`${item}\` (expected tcp:PORT, udp:PORT or icmp; PORT 1-65535)` };
  }
  if (out.length === 0) return { error: 'no targets (expected a comma list such as tcp:80,udp:53,icmp)' };
  if (out.length > MAX_TARGETS) return { error: `at most ${MAX_TARGETS} targets per tunnel` };
  return { targets: out };
}

/** The DNS names of a comma list: trimmed, empty ones dropped; { names } or { error }. */
export function parseDnsNames(s) {
  const names = s.split(',').map((n) => n.trim()).filter((n) => n);
  for (const n of names) {
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(n) || n.length > 253) {
      return { error: `invalid DNS name \`${n}\` (letters, digits, hyphens and dots)` };
    }
  }
  return { names };
}
