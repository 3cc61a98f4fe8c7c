#!/usr/bin/env node
// An ECHONET Lite controller run by the npm stack echonet-lite (Hiroshi Sugimura), for interoperability tests.
//
//   node tools/interop/el_controller.js --host 127.0.0.2 --bind 127.0.0.4
//        [--search] [--get 027D01:80,DA] [--set 027D01:DA=42 ...] [--seti 027D01:80=30 ...]
//        [--batch 10] [--timeout 2] [--deadline 20] [--auto SECONDS] [--listen-send-port] [--debug]
//
// Discovery (default): Get of the node profile (0xD6, 0x83, 0x8A, 0x9D, 0x9E, 0x9F; by multicast with --search,
// as the library's EL.search() sends it), then 0x9D/0x9E/0x9F of every instance, then Gets of every readable EPC
// in batches of --batch, then each --set as a SetC (each --seti as a SetI) followed by a Get of the same EPC.
// With --get, only those Gets are made (after the node profile's Get with --search, to find the host).
// With --auto S, the library's own discovery runs instead (autoGetProperties: EL.search() or its unicast twin,
// then the library fetches maps and values by itself) and EL.facilities is printed after S seconds.
//
// --listen-send-port keeps the library's sending socket (port 23610) open and listening, so that answers sent back
// to the request's source port reach the library (see el_common.keepSendSocket and README.md).
//
// Prints one JSON document: node profile, instances, per object the maps (the library's decoding beside this
// runner's decoding of the raw bytes), values as hex, set results, errors, and every frame sent and received.
// Exit 0 when every step was answered, 1 otherwise, 2 on bad arguments, 3 when the library is missing.
'use strict';

const common = require('./el_common');

let args;
try {
  args = common.parseArgs(process.argv.slice(2), {
    host: { type: 'string', default: '' },
    bind: { type: 'string', required: true },
    search: { type: 'bool', default: false },
    get: { type: 'list' },
    set: { type: 'list' },
    seti: { type: 'list' },
    batch: { type: 'number', default: 10 },
    timeout: { type: 'number', default: 2 },
    deadline: { type: 'number', default: 20 },
    auto: { type: 'number', default: 0 },
    'listen-send-port': { type: 'bool', default: false },
    debug: { type: 'bool', default: false },
  });
  if (!args.host && !args.search) {
    throw new Error('--host or --search is required');
  }
} catch (e) {
  process.stderr.write(`el_controller.js: ${e.message}\n`);
  process.exit(2);
}

let EL;
try {
  EL = require('echonet-lite');
} catch (e) {
  process.stderr.write(`el_controller.js: cannot load echonet-lite (npm install --prefix tools/interop): ${e.message}\n`);
  process.exit(3);
}

common.bindLibraryTo(args.bind);

const SEOJ = '05ff01';
const result = {
  peer: 'echonet-lite (npm)',
  version: common.libraryVersion(),
  host: args.host || null,
  bind: args.bind,
  responders: [],
  node_profile: {},
  instances: [],
  objects: {},
  sets: [],
  errors: [],
  frames: [],
};
const pending = new Map(); // TID hex -> {resolve, ip, multicast, answers}

function logSends() {
  const origSendBase = EL.sendBase;
  EL.sendBase = function loggedSendBase(ip, buffer) {
    const address = typeof ip === 'object' ? ip.address : ip;
    result.frames.push({ dir: 'out', peer: `${address}:${EL.EL_port}`, hex: Buffer.from(buffer).toString('hex') });
    return origSendBase.call(EL, ip, buffer);
  };
}

let lastReceived = null; // the raw datagram being handled, for answers the library cannot parse

const origReturner = EL.returner;
EL.returner = function loggedReturner(bytes, rinfo, userfunc) {
  const hex = Buffer.from(bytes).toString('hex');
  result.frames.push({ dir: 'in', peer: `${rinfo.address}:${rinfo.port}`, hex });
  if (args.debug) {
    process.stderr.write(`recv ${rinfo.address}:${rinfo.port} ${hex}\n`);
  }
  lastReceived = { hex, rinfo };
  try {
    return origReturner.call(EL, bytes, rinfo, userfunc);
  } finally {
    lastReceived = null;
  }
};

function deliver(rinfo, tid, answer) {
  const waiter = pending.get(tid);
  if (!waiter || (!waiter.multicast && rinfo.address !== waiter.ip)) {
    return;
  }
  if (waiter.multicast) {
    waiter.answers.push(answer);
  } else {
    pending.delete(tid);
    waiter.resolve(answer);
  }
}

function userfunc(rinfo, els, err) {
  if (err) {
    result.errors.push(`the library could not parse a datagram from ${rinfo && rinfo.address}: ${err}`);
    if (lastReceived && lastReceived.hex.length >= 24) {
      const hex = lastReceived.hex;
      deliver(rinfo, hex.substr(4, 4), {
        from: `${rinfo.address}:${rinfo.port}`,
        tid: hex.substr(4, 4),
        seoj: hex.substr(8, 6),
        esv: hex.substr(20, 2),
        details: {},
        raw: common.rawProperties(hex),
        parse_error: String(err),
      });
    }
    return;
  }
  deliver(rinfo, els.TID, {
    from: `${rinfo.address}:${rinfo.port}`,
    tid: els.TID,
    seoj: els.SEOJ,
    esv: els.ESV,
    details: els.DETAILs,
    raw: common.rawProperties(lastReceived ? lastReceived.hex : common.bytesToHex(EL.ELDATA2Array(els))),
  });
}

async function request(ip, deoj, esv, details, multicast = false) {
  const tid = await EL.sendDetails(ip, SEOJ, deoj, esv, details);
  const key = common.bytesToHex(tid);
  return new Promise((resolve) => {
    const waiter = { ip, multicast, answers: [], resolve };
    pending.set(key, waiter);
    setTimeout(() => {
      pending.delete(key);
      resolve(multicast ? waiter.answers : null);
    }, args.timeout * 1000);
  });
}

function splitTarget(spec) {
  // "027D01:DA=42" or "027D01:80,DA"
  const colon = spec.indexOf(':');
  if (colon !== 6) {
    throw new Error(`bad target ${spec} (want EOJ:EPC=HEX or EOJ:EPC,EPC)`);
  }
  return [spec.slice(0, 6).toLowerCase(), spec.slice(7)];
}

function mapsFrom(answer) {
  const maps = {};
  const raw = {};
  const spec = {};
  for (const epc of ['9d', '9e', '9f']) {
    const lib = answer.details[epc];
    if (lib) {
      // the library rewrites both forms to "count + EPC list"
      maps[epc] = common.hexToBytes(lib).slice(1).map((b) => b.toString(16).padStart(2, '0'));
    }
    const prop = answer.raw.find((p) => p.epc === epc);
    if (prop && prop.pdc > 0) {
      raw[epc] = prop.edt;
      spec[epc] = common.decodeMap(common.hexToBytes(prop.edt)).map((b) => b.toString(16).padStart(2, '0'));
    }
  }
  return { maps, raw_maps: raw, spec_maps: spec };
}

async function getValues(host, eoj, epcs, into) {
  for (let i = 0; i < epcs.length; i += Math.max(1, args.batch)) {
    const chunk = epcs.slice(i, i + Math.max(1, args.batch));
    const answer = await request(host, eoj, EL.GET, chunk.map((epc) => ({ [epc]: '' })));
    if (!answer) {
      result.errors.push(`no answer to Get ${eoj} ${chunk.join(',')}`);
      continue;
    }
    into.get_esv = into.get_esv || [];
    into.get_esv.push(answer.esv);
    for (const prop of answer.raw) {
      if (prop.pdc > 0) {
        into.values[prop.epc] = prop.edt;
      } else if (!into.unreadable.includes(prop.epc)) {
        into.unreadable.push(prop.epc);
      }
    }
  }
}

async function findNode() {
  const npDetails = [{ d6: '' }, { 83: '' }, { '8a': '' }, { '9d': '' }, { '9e': '' }, { '9f': '' }];
  let np;
  if (args.search) {
    const answers = await request(EL.EL_Multi, '0ef001', EL.GET, npDetails, true);
    result.responders = answers.map((a) => a.from);
    np = answers.find((a) => !args.host || a.from.split(':')[0] === args.host) || null;
    if (np && !args.host) {
      result.host = np.from.split(':')[0];
    }
  } else {
    np = await request(args.host, '0ef001', EL.GET, npDetails);
  }
  if (!np) {
    result.errors.push('no answer from the node profile');
    return false;
  }
  for (const prop of np.raw) {
    result.node_profile[prop.epc] = prop.edt;
  }
  result.node_profile_esv = np.esv;
  const list = common.hexToBytes(result.node_profile.d6 || '00');
  for (let i = 0; i < list[0] && 1 + 3 * i + 3 <= list.length; i += 1) {
    result.instances.push(common.bytesToHex(list.slice(1 + 3 * i, 4 + 3 * i)));
  }
  result.objects['0ef001'] = { ...mapsFrom(np), values: {}, unreadable: [] };
  return true;
}

async function discover() {
  if (!(await findNode())) {
    return;
  }
  for (const eoj of result.instances) {
    const answer = await request(result.host, eoj, EL.GET, [{ '9d': '' }, { '9e': '' }, { '9f': '' }]);
    if (!answer) {
      result.errors.push(`no answer to the property maps of ${eoj}`);
      continue;
    }
    const obj = { ...mapsFrom(answer), values: {}, unreadable: [] };
    result.objects[eoj] = obj;
    const readable = (obj.maps['9f'] || []).filter((epc) => !['9d', '9e', '9f'].includes(epc));
    await getValues(result.host, eoj, readable, obj);
  }
}

async function doSets(list, esv) {
  for (const spec of list) {
    const [eoj, rest] = splitTarget(spec);
    const [epc, edt] = rest.toLowerCase().split('=');
    const entry = { eoj, epc, edt, esv };
    const answer = await (esv === EL.SETI
      ? EL.sendDetails(result.host, SEOJ, eoj, esv, [{ [epc]: edt }]).then(
          () => new Promise((resolve) => setTimeout(() => resolve(null), args.timeout * 500)),
        )
      : request(result.host, eoj, esv, [{ [epc]: edt }]));
    if (answer) {
      entry.answer_esv = answer.esv;
      entry.answer = answer.raw;
      if (answer.parse_error) {
        entry.parse_error = answer.parse_error;
      }
    } else if (esv !== EL.SETI) {
      result.errors.push(`no answer to SetC ${spec}`);
    }
    const back = await request(result.host, eoj, EL.GET, [{ [epc]: '' }]);
    entry.readback = back ? (back.raw.find((p) => p.epc === epc) || {}).edt || null : null;
    result.sets.push(entry);
  }
}

async function explicitGets() {
  if (args.search && !(await findNode())) {
    return;
  }
  for (const spec of args.get) {
    const [eoj, rest] = splitTarget(spec);
    const epcs = rest.toLowerCase().split(',').filter(Boolean);
    const obj = result.objects[eoj] || { values: {}, unreadable: [] };
    result.objects[eoj] = obj;
    await getValues(result.host, eoj, epcs, obj);
  }
}

async function auto() {
  if (args.search) {
    EL.search();
  } else {
    EL.sendDetails(args.host, EL.NODE_PROFILE_OBJECT, EL.NODE_PROFILE_OBJECT, EL.GET, [
      { d6: '' },
      { 83: '' },
      { '9d': '' },
      { '9e': '' },
      { '9f': '' },
    ]);
  }
  await new Promise((resolve) => setTimeout(resolve, args.auto * 1000));
  result.facilities = EL.facilities;
  if (!args.host && Object.keys(EL.facilities).length === 0) {
    result.errors.push('no facility found');
  } else if (args.host && !EL.facilities[args.host]) {
    result.errors.push(`nothing learned from ${args.host}`);
  }
}

function finish(code) {
  try {
    EL.release();
  } catch (e) {
    // already closed
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(code);
}

process.on('SIGTERM', () => {
  result.errors.push('terminated');
  finish(143);
});
setTimeout(() => {
  result.errors.push(`deadline of ${args.deadline} s reached`);
  finish(1);
}, args.deadline * 1000).unref();

async function main() {
  if (args['listen-send-port']) {
    await common.keepSendSocket(EL, args.bind, userfunc);
  }
  logSends();
  const sock = await EL.initialize([SEOJ], userfunc, 4, {
    v4: args.bind,
    ignoreMe: true,
    autoGetProperties: args.auto > 0,
    autoGetDelay: 100,
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
  if (args.auto > 0) {
    await auto();
  } else if (args.get.length) {
    await explicitGets();
  } else {
    await discover();
  }
  if (result.host && (args.set.length || args.seti.length)) {
    await doSets(args.set, EL.SETC);
    await doSets(args.seti, EL.SETI);
  }
  finish(result.errors.length ? 1 : 0);
}

main().catch((e) => {
  result.errors.push(String(e.stack || e));
  finish(1);
});
