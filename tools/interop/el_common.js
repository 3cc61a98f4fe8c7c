// Shared glue for the echonet-lite (npm) runners: argument parsing, binding the library to one address, profiles.
//
// The library (echonet-lite.js by Hiroshi Sugimura) always binds its receiving socket to 0.0.0.0:3610 and joins
// 224.0.23.0 without naming an interface. To let several stacks share one host on 127.0.0.x:3610, these runners
// patch two dgram calls before EL.initialize(): a bind of port 3610 goes to the --bind address, and
// addMembership() without an interface joins on the --bind address. The library's own option v4 = --bind makes it
// send from --bind (port 23610) and send multicast out of that interface. Nothing else of the library is changed.
'use strict';

const dgram = require('dgram');
const fs = require('fs');
const path = require('path');
const util = require('util');

// stdout carries only READY lines and JSON documents: the library's own console.log chatter goes to stderr.
console.log = (...parts) => process.stderr.write(`${util.format(...parts)}\n`);

function parseArgs(argv, spec) {
  // spec: {name: {type: 'string'|'number'|'bool'|'list', default}}; returns {name: value}
  const out = {};
  for (const [name, s] of Object.entries(spec)) {
    out[name] = s.type === 'list' ? [] : s.default;
  }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      throw new Error(`unexpected argument ${arg}`);
    }
    let name = arg.slice(2);
    let value = null;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const s = spec[name];
    if (!s) {
      throw new Error(`unknown option --${name}`);
    }
    if (s.type === 'bool') {
      out[name] = true;
      continue;
    }
    if (value === null) {
      i += 1;
      if (i >= argv.length) {
        throw new Error(`--${name} needs a value`);
      }
      value = argv[i];
    }
    if (s.type === 'number') {
      out[name] = Number(value);
      if (!Number.isFinite(out[name])) {
        throw new Error(`--${name} needs a number`);
      }
    } else if (s.type === 'list') {
      out[name].push(value);
    } else {
      out[name] = value;
    }
  }
  for (const [name, s] of Object.entries(spec)) {
    if (s.required && (out[name] === undefined || out[name] === null || out[name] === '')) {
      throw new Error(`--${name} is required`);
    }
  }
  return out;
}

function bindLibraryTo(address) {
  const origBind = dgram.Socket.prototype.bind;
  dgram.Socket.prototype.bind = function patchedBind(...args) {
    const first = args[0];
    if (first && typeof first === 'object' && first.port === 3610 && (!first.address || first.address === '0.0.0.0')) {
      args[0] = Object.assign({}, first, { address });
    }
    return origBind.apply(this, args);
  };
  const origAdd = dgram.Socket.prototype.addMembership;
  dgram.Socket.prototype.addMembership = function patchedAddMembership(group, iface) {
    return origAdd.call(this, group, iface || address);
  };
}

// A socket bound to 224.0.23.0:3610 and joined on `address`, feeding the library's receiver: the library's own
// socket is bound to `address` (unicast only), and Linux delivers multicast only to sockets bound to the group or to
// 0.0.0.0.
function listenMulticast(EL, address, userfunc) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true }, (msg, rinfo) => {
      EL.returner(msg, rinfo, userfunc);
    });
    sock.once('error', reject);
    sock.bind({ address: EL.EL_Multi, port: EL.EL_port }, () => {
      sock.addMembership(EL.EL_Multi, address);
      resolve(sock);
    });
  });
}

// Runner workaround (off by default): the library sends every datagram from a fresh socket bound to port 23610 and
// closes it at once, so an answer sent back to that source port (as uecho and the spec-following stacks do) is
// lost. This replaces EL.sendBase with one that sends from a single socket kept open on `address`:23610 and hands
// what arrives there to the library's receiver. The bytes sent and the ports used stay the same.
function keepSendSocket(EL, address, userfunc) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true }, (msg, rinfo) => {
      EL.returner(msg, rinfo, userfunc);
    });
    sock.once('error', reject);
    sock.bind({ address, port: EL.EL_port + 20000 }, () => {
      sock.setMulticastInterface(address);
      EL.sendBase = function sendFromKeptSocket(ip, buffer) {
        const to = typeof ip === 'object' ? ip.address : ip;
        sock.send(buffer, 0, buffer.length, EL.EL_port, to, (err) => {
          if (err) {
            process.stderr.write(`send to ${to} failed: ${err}\n`);
          }
        });
        return [buffer[2], buffer[3]];
      };
      resolve(sock);
    });
  });
}

function loadProfile(cls) {
  const file = path.join(__dirname, 'profiles', `${cls.toUpperCase()}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function hexToBytes(hex) {
  const out = [];
  for (let i = 0; i < hex.length; i += 2) {
    out.push(parseInt(hex.substr(i, 2), 16));
  }
  return out;
}

function bytesToHex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

// Property map per ECHONET Lite Part 2: count, then the EPCs (fewer than 16) or a 16-byte bitmap whose byte
// (EPC & 0x0F) has bit ((EPC >> 4) - 8) set.
function encodeMap(epcs) {
  const list = [...new Set(epcs)].sort((a, b) => a - b);
  if (list.length < 16) {
    return [list.length, ...list];
  }
  const bitmap = new Array(16).fill(0);
  for (const epc of list) {
    bitmap[epc & 0x0f] |= 1 << ((epc >> 4) - 8);
  }
  return [list.length, ...bitmap];
}

function decodeMap(bytes) {
  if (bytes.length === 0) {
    return [];
  }
  if (bytes.length === 17 && bytes[0] >= 16) {
    const out = [];
    for (let i = 0; i < 16; i += 1) {
      for (let bit = 0; bit < 8; bit += 1) {
        if (bytes[i + 1] & (1 << bit)) {
          out.push(0x80 + 0x10 * bit + i);
        }
      }
    }
    return out.sort((a, b) => a - b);
  }
  return bytes.slice(1);
}

// (EPC, EDT hex) pairs of a frame's first property list, straight from the bytes (the library folds duplicate
// EPCs and rewrites property maps, so the raw list is kept beside its view).
function rawProperties(frameHex) {
  const bytes = hexToBytes(frameHex);
  const out = [];
  if (bytes.length < 12) {
    return out;
  }
  let pos = 12;
  for (let n = 0; n < bytes[11] && pos + 2 <= bytes.length; n += 1) {
    const epc = bytes[pos];
    const pdc = bytes[pos + 1];
    const prop = { epc: epc.toString(16).padStart(2, '0'), pdc, edt: bytesToHex(bytes.slice(pos + 2, pos + 2 + pdc)) };
    if (pos + 2 + pdc > bytes.length) {
      prop.truncated = true; // PDC promises more bytes than the datagram holds
    }
    out.push(prop);
    pos += 2 + pdc;
  }
  return out;
}

function libraryVersion() {
  try {
    return require('echonet-lite/package.json').version;
  } catch (e) {
    return 'unknown';
  }
}

module.exports = {
  parseArgs,
  bindLibraryTo,
  listenMulticast,
  keepSendSocket,
  loadProfile,
  hexToBytes,
  bytesToHex,
  encodeMap,
  decodeMap,
  rawProperties,
  libraryVersion,
};
