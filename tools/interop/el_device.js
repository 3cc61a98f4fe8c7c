#!/usr/bin/env node
// An ECHONET Lite device run by the npm stack echonet-lite (Hiroshi Sugimura), for interoperability tests.
//
//   node tools/interop/el_device.js --bind 127.0.0.2 [--class 027D] [--instance 01] [--multicast]
//                                   [--seconds 3600] [--debug]
//
// Hosts one device object (profiles/<class>.json) beside the library's own node profile 0x0EF001, and prints
//   READY {"peer": ..., "bind": ..., "eoj": ..., "properties": {...}, "node_profile": {...}}
// once its socket listens. Runs until SIGTERM/SIGINT or --seconds.
//
// What is the library's and what is this runner's (see README.md):
// - library: node profile (Get/Set/INF_REQ handling), the start-up INF of 0xD5, Get answers (EL.replyGetDetail),
//   Set answers (EL.replySetDetail), sending from port 23610, frame parsing.
// - runner: the device's property values and maps (the library has no map encoder), which Sets are acceptable
//   (EPC in the Set map, same size, EDT in the profile's enum), storing accepted values, and an INF of each changed
//   property of the status-change map (the library does this only for its air-conditioner demo class 0x0130).
//   Requests with other ESVs to the device object (INF_REQ, SetGet, ...) are left unanswered, as in the library's
//   own device demo.
'use strict';

const common = require('./el_common');

let args;
try {
  args = common.parseArgs(process.argv.slice(2), {
    bind: { type: 'string', required: true },
    class: { type: 'string', default: '027D' },
    instance: { type: 'string', default: '' },
    multicast: { type: 'bool', default: false },
    seconds: { type: 'number', default: 3600 },
    debug: { type: 'bool', default: false },
  });
} catch (e) {
  process.stderr.write(`el_device.js: ${e.message}\n`);
  process.exit(2);
}

let EL;
try {
  EL = require('echonet-lite');
} catch (e) {
  process.stderr.write(`el_device.js: cannot load echonet-lite (npm install --prefix tools/interop): ${e.message}\n`);
  process.exit(3);
}

common.bindLibraryTo(args.bind);

const profile = common.loadProfile(args.class);
let eoj = profile.eoj.toLowerCase();
if (args.instance) {
  eoj = eoj.slice(0, 4) + args.instance.toLowerCase().padStart(2, '0');
}

const access = {};
const values = {};
for (const [epc, p] of Object.entries(profile.properties)) {
  values[epc.toLowerCase()] = common.hexToBytes(p.edt);
  access[epc.toLowerCase()] = p;
}
function mapOf(letter) {
  const epcs = Object.entries(access)
    .filter(([, p]) => p.access.includes(letter))
    .map(([epc]) => parseInt(epc, 16));
  if (letter === 'g') {
    epcs.push(0x9d, 0x9e, 0x9f);
  }
  return common.encodeMap(epcs);
}
values['9d'] = mapOf('i');
values['9e'] = mapOf('s');
values['9f'] = mapOf('g');
const devDetails = { [eoj]: values };

function acceptable(epc, edt) {
  const p = access[epc];
  if (!p || !p.access.includes('s')) {
    return false;
  }
  if (edt.length !== p.edt.length) {
    return false;
  }
  return !p.enum || p.enum.map((v) => v.toLowerCase()).includes(edt.toLowerCase());
}

function log(...parts) {
  if (args.debug) {
    process.stderr.write(`${parts.join(' ')}\n`);
  }
}

async function onSet(rinfo, els) {
  const obj = devDetails[els.DEOJ];
  if (!obj) {
    await EL.replySetDetail(rinfo, els, devDetails); // the library drops Sets to objects it does not hold
    return;
  }
  const view = {};
  const accepted = {};
  for (const [epc, edt] of Object.entries(els.DETAILs)) {
    if (acceptable(epc, edt)) {
      view[epc] = obj[epc];
      accepted[epc] = edt;
    }
  }
  await EL.replySetDetail(rinfo, els, { [els.DEOJ]: view }); // answer first, then announce
  for (const [epc, edt] of Object.entries(accepted)) {
    const changed = common.bytesToHex(obj[epc]) !== edt.toLowerCase();
    obj[epc] = common.hexToBytes(edt);
    if (changed && access[epc].access.includes('i')) {
      EL.sendOPC1(EL.EL_Multi, els.DEOJ, EL.NODE_PROFILE_OBJECT, EL.INF, epc, obj[epc]);
    }
  }
}

function userfunc(rinfo, els, err) {
  if (err) {
    process.stderr.write(`el_device.js: receive error from ${rinfo && rinfo.address}: ${err}\n`);
    return;
  }
  log('recv', rinfo.address, rinfo.port, JSON.stringify(els));
  if (els.DEOJ.substr(0, 4) === EL.NODE_PROFILE) {
    return; // the library answers for its node profile
  }
  switch (els.ESV) {
    case EL.SETI:
    case EL.SETC:
      onSet(rinfo, els).catch((e) => process.stderr.write(`el_device.js: set failed: ${e}\n`));
      break;
    case EL.GET:
      EL.replyGetDetail(rinfo, els, devDetails);
      break;
    default:
      break;
  }
}

function hexDict(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    out[k] = common.bytesToHex(v);
  }
  return out;
}

let finished = false;
function shutdown(code) {
  if (finished) {
    return;
  }
  finished = true;
  try {
    EL.release();
  } catch (e) {
    // already closed
  }
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
setTimeout(() => shutdown(0), args.seconds * 1000).unref();

async function main() {
  const sock = await EL.initialize([eoj], userfunc, 4, {
    v4: args.bind,
    ignoreMe: true,
    autoGetProperties: false,
    debugMode: args.debug,
  });
  await new Promise((resolve, reject) => {
    try {
      sock.address();
      resolve();
    } catch (e) {
      sock.once('listening', resolve);
      sock.once('error', reject);
    }
  });
  let mcast = null;
  if (args.multicast) {
    mcast = await common.listenMulticast(EL, args.bind, userfunc);
  }
  const ready = {
    peer: 'echonet-lite (npm)',
    version: common.libraryVersion(),
    bind: args.bind,
    port: sock.address().port,
    send_port: EL.EL_port + 20000,
    multicast: Boolean(mcast),
    eoj,
    properties: hexDict(values),
    node_profile: hexDict(EL.Node_details),
  };
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
  // Keep the event loop alive until a signal or --seconds.
  setInterval(() => {}, 1 << 30);
}

main().catch((e) => {
  process.stderr.write(`el_device.js: ${e.stack || e}\n`);
  shutdown(1);
});
