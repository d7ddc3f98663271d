// netifd-stub.uc: stands in for netifd's ubus objects in the OpenWrt-tool
// test tiers (fw4-real.sh, openwrt-real.sh, luci-browser.sh), which have no
// netifd. Run with OpenWrt's ucode (ubus, uloop and fs modules):
//
//	ucode netifd-stub.uc IFACES.json
//
// IFACES.json is what "ubus call network.interface dump" answers:
//
//	{ "interface": [ { "interface": "wan", "up": true, "device": "wan0",
//	                   "l3_device": "wan0", "data": {} }, ... ] }
//
// Published: network.interface (dump) and network.interface.NAME for each
// interface (status: its entry, as netifd's status has the same fields;
// up and down answer without effect). SIGHUP re-reads the file; interfaces
// new in it are published then. netifd's other fields (ipv4-address, route,
// ...) are whatever the file holds.
'use strict';

import * as ubus from 'ubus';
import * as uloop from 'uloop';
import { readfile } from 'fs';

const path = ARGV[0];
if (!path) {
	warn('usage: ucode netifd-stub.uc IFACES.json\n');
	exit(2);
}

let ifaces = [];

function load() {
	let text = readfile(path);
	let data = text ? json(text) : null;
	if (type(data?.interface) != 'array') {
		warn(`netifd-stub: ${path}: no "interface" array\n`);
		return false;
	}
	ifaces = data.interface;
	return true;
}

function find(name) {
	for (let i in ifaces)
		if (i.interface == name)
			return i;
	return null;
}

if (!load())
	exit(1);

uloop.init();
const conn = ubus.connect();
if (!conn) {
	warn(`netifd-stub: cannot connect to ubus: ${ubus.error()}\n`);
	exit(1);
}

const published = {};

function publish_interfaces() {
	for (let i in ifaces) {
		let name = i.interface;
		if (published[name])
			continue;
		published[name] = conn.publish('network.interface.' + name, {
			status: {
				call: function(req) {
					let s = find(name);
					return s ? { ...s } : { interface: name, up: false };
				},
				args: {}
			},
			up: { call: function(req) { return 0; }, args: {} },
			down: { call: function(req) { return 0; }, args: {} }
		});
	}
}

conn.publish('network.interface', {
	dump: {
		call: function(req) { return { interface: ifaces }; },
		args: {}
	}
});
publish_interfaces();

uloop.signal('SIGHUP', function() {
	if (load())
		publish_interfaces();
});
uloop.run();
