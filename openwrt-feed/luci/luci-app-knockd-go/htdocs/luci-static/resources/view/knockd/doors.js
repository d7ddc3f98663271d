'use strict';
'require view';
'require form';
'require rpc';
'require uci';
'require ui';
'require uqr';
'require dom';

/*
 * Services -> Port knocking -> Doors: /etc/config/knockd.
 *
 * One "knockd" section named "global" (the daemon) and one "door" section
 * per door. Keys come from the daemon itself (ubus knockd keygen); the MAC
 * choices for Wake-on-LAN from "ubus knockd hosts" (DHCP leases and ARP).
 * Save & Apply is LuCI's usual flow: rpcd commits the change and sends
 * config.change, procd runs "/etc/init.d/knockd reload".
 *
 * A knockd built without SPA, rotating knocks or mail ("ubus call knockd
 * features"; the package knockd-go, knockd-go-full has them) refuses a
 * configuration that uses them: their options are not offered, a note says
 * what this build lacks, and a door that has them anyway is flagged, its
 * options left as they are. An older knockd without "features": everything
 * is offered.
 */

const callKeygen = rpc.declare({
	object: 'knockd',
	method: 'keygen',
	params: [ 'kind' ]
});

const callHosts = rpc.declare({
	object: 'knockd',
	method: 'hosts',
	expect: { hosts: [] }
});

const callFeatures = rpc.declare({
	object: 'knockd',
	method: 'features',
	expect: { '': {} }
});

/* What this knockd can do; null (the call failed: a knockd without the
 * method) means everything. */
function buildFeatures(res) {
	const f = { spa: true, rotating: true, mail: true, full_package: '' };

	if (L.isObject(res)) {
		f.spa = res.spa !== false;
		f.rotating = res.rotating !== false;
		f.mail = res.mail !== false;
		f.full_package = (typeof res.full_package == 'string') ? res.full_package : '';
	}

	return f;
}

/* ---- values as the daemon parses them ---------------------------------- */

function isPort(s) {
	return /^\d{1,5}$/.test(s) && +s >= 1 && +s <= 65535;
}

function isProto(s) {
	return /^(tcp|udp)$/i.test(s);
}

/* "7000,8000:udp,9000": ports with an optional :tcp or :udp, one trailing
 * comma tolerated. */
function checkSequence(value) {
	const items = value.split(',');

	if (items.length > 1 && items[items.length - 1].trim() == '')
		items.pop();

	if (items.length > 256)
		return _('At most 256 knocks');

	for (let i = 0; i < items.length; i++) {
		const it = items[i].trim();
		const m = it.match(/^([^:]*)(?::(.*))?$/);

		if (it == '')
			return _('Knock %d is empty').format(i + 1);
		if (!isPort(m[1].trim()))
			return _('Knock %d (%s): the port must be a number from 1 to 65535').format(i + 1, it);
		if (m[2] != null && !isProto(m[2].trim()))
			return _('Knock %d (%s): the protocol must be tcp or udp').format(i + 1, it);
	}

	return true;
}

/* "tcp/22", "22/tcp", "udp:53" or a bare "22" (tcp). */
function checkProtoPort(value) {
	const m = value.trim().match(/^([^/:]+)(?:[/:]([^/:]+))?$/);

	if (!m)
		return false;
	if (m[2] == null)
		return isPort(m[1]);

	return (isProto(m[1]) && isPort(m[2])) || (isPort(m[1]) && isProto(m[2]));
}

function isIP4(s) {
	const p = s.split('.');
	return p.length == 4 && p.every(x => /^\d{1,3}$/.test(x) && +x <= 255);
}

function isIP6(s) {
	return /^[0-9a-f:.]+$/i.test(s) && s.indexOf(':') != -1 && s.split('::').length <= 2;
}

/* "tcp/3389->192.168.1.10[:3389] [masquerade]", IPv6 as [fd00::5]:80. */
function checkForward(value) {
	const f = value.replace('->', ' -> ').trim().split(/\s+/);

	if (f.length >= 4 && f[f.length - 1].toLowerCase() == 'masquerade')
		f.pop();
	if (f.length != 3 || f[1] != '->' || !checkProtoPort(f[0]))
		return false;

	const dst = f[2];
	let m;

	if ((m = dst.match(/^\[([^\]]+)\](?::(\d+))?$/)) != null)
		return isIP6(m[1]) && (m[2] == null || isPort(m[2]));
	if ((m = dst.match(/^([\d.]+)(?::(\d+))?$/)) != null)
		return isIP4(m[1]) && (m[2] == null || isPort(m[2]));

	return isIP6(dst);
}

/* "lo-hi" with at least 256 ports. */
function checkPortRange(value) {
	const m = value.trim().match(/^(\d+)\s*-\s*(\d+)$/);

	if (!m || !isPort(m[1]) || !isPort(m[2]))
		return _('Expecting a range lo-hi of ports from 1 to 65535');
	if (+m[2] - +m[1] + 1 < 256)
		return _('The range must hold at least 256 ports');

	return true;
}

/* RFC 4648 base32, any case, padding optional, spaces and dashes ignored;
 * 16 to 64 bytes once decoded. */
function checkBase32Secret(value) {
	const s = value.replace(/[\s-]/g, '').replace(/=+$/, '').toUpperCase();

	if (!/^[A-Z2-7]+$/.test(s))
		return _('Expecting base32 (letters A-Z and digits 2-7)');

	const bytes = Math.floor(s.length * 5 / 8);

	if (bytes < 16 || bytes > 64)
		return _('The secret must be 16 to 64 bytes (26 to 103 base32 characters), not %d').format(bytes);

	return true;
}

function checkBase64(value) {
	return /^[A-Za-z0-9+/]+={0,2}$/.test(value.trim()) && value.trim().length % 4 == 0;
}

function checkMail(value) {
	return /^[^\s@<>]+@[^\s@<>]+$/.test(value.trim());
}

/* What opens a door: a knock sequence, an SPA packet or a rotating one. */
function doorKind(get) {
	if (get('spa') == '1' || get('spa') == 'yes')
		return 'spa';
	if (get('sequence_secret'))
		return 'rotating';
	return 'knock';
}

const kindTitles = {
	knock: _('Knock sequence'),
	spa: _('SPA (fwknop)'),
	rotating: _('Rotating knock')
};

const missingKindTitles = {
	spa: _('SPA (not in this build)'),
	rotating: _('Rotating knock (not in this build)')
};

/* The optional features of a door, their names and the door options the
 * daemon refuses when its build lacks them, whatever the value (spa '0'
 * too). */
const doorFeatures = [
	[ 'spa', _('SPA (fwknop)'), /^spa(_|$)/ ],
	[ 'rotating', _('rotating knocks'), /^sequence_(secret|length|step|ports|protocol)$/ ],
	[ 'mail', _('mail'), /^notify$/ ]
];

/* The features a door's options use that this build does not have. */
function doorMissing(features, section_id) {
	const s = uci.get('knockd', section_id) || {};
	const used = re => Object.keys(s).some(k => re.test(k) && s[k] != null && s[k] !== '');

	return doorFeatures.filter(([ name, title, re ]) => !features[name] && used(re)).map(([ name ]) => name);
}

function featureTitles(names) {
	return doorFeatures.filter(([ name ]) => names.includes(name)).map(([ name, title ]) => title).join(', ');
}

/* "The package knockd-go-full has every feature." when there is one. */
function fullerText(features) {
	return features.full_package ? _('The package %s has every feature.').format(features.full_package) : '';
}

/* The page's note on what this build lacks, null when it lacks nothing. */
function featuresNote(features) {
	const lacks = doorFeatures.map(([ name ]) => name).filter(name => !features[name]);

	if (!lacks.length)
		return null;

	return E('div', { 'class': 'alert-message warning', 'id': 'knockd-features-note' }, [
		_('Not in this build of knockd-go: %s.').format(featureTitles(lacks)),
		' ', fullerText(features)
	]);
}

/* Why a door is flagged: the features it uses that this build lacks. */
function doorMissingText(features, missing) {
	return [
		_('This door uses %s, which this build of knockd-go does not have: the daemon refuses the configuration while the door has these options.').format(featureTitles(missing)),
		fullerText(features)
	].filter(x => x).join(' ');
}

/* The options that open a door, for the error when a door has none. */
function needTriggerText(features) {
	if (features.spa && features.rotating)
		return _('A door needs a knock sequence, SPA or a rotating knock secret');
	if (features.spa)
		return _('A door needs a knock sequence or SPA');
	if (features.rotating)
		return _('A door needs a knock sequence or a rotating knock secret');
	return _('A door needs a knock sequence');
}

/* A warning at the top of a door's dialog when the door uses what this
 * build lacks; nothing otherwise. */
const MissingNote = form.DummyValue.extend({
	features: null,

	render(option_index, section_id, in_table) {
		const missing = doorMissing(this.features, section_id);

		if (!missing.length)
			return E('div', { 'data-field': this.cbid(section_id) });

		return E('div', {
			'class': 'alert-message warning',
			'data-field': this.cbid(section_id),
			'data-name': this.option
		}, [ doorMissingText(this.features, missing) ]);
	}
});

/* The text the fwknop Android client reads from a QR code. */
function fwknopQRText(key, hmac) {
	const parts = [];

	if (key)
		parts.push('KEY_BASE64:' + key);
	if (hmac)
		parts.push('HMAC_KEY_BASE64:' + hmac);

	return parts.join(' ');
}

/* The daemon's mail sender (mail_from), with description desc. */
function mailSender(s, desc) {
	const o = s.option(form.Value, 'mail_from', _('Mail sender'), desc);
	o.validate = (section_id, value) => (!value || checkMail(value)) ? true : _('Expecting a mail address');
	return o;
}

/* knock --uri of a rotating door (docs/rotating-knocks.md). */
function rotatingURI(door, get) {
	const q = [
		'secret=' + get('sequence_secret').replace(/[\s=-]/g, '').toUpperCase(),
		'algorithm=SHA256',
		'digits=' + (get('sequence_length') || '4'),
		'period=' + (get('sequence_step') || '30'),
		'ports=' + (get('sequence_ports') || '10000-60000'),
		'protocol=' + (get('sequence_protocol') || 'tcp'),
		'issuer=knockd-go'
	];

	return 'otpauth://knock/knockd-go:%s?%s'.format(encodeURIComponent(door), q.join('&'));
}

function renderQR(text) {
	if (!text)
		return E('em', {}, _('No key yet'));

	let svg;

	try {
		svg = uqr.renderSVG(text, { pixelSize: 4, ecc: 'M', border: 2 });
	}
	catch (e) {
		return E('em', {}, _('Cannot draw the QR code: %s').format(e.message));
	}

	return E('div', { 'class': 'knockd-qr' }, [
		E('div', { 'style': 'width:max-content;background:#fff;padding:4px' }, [ (new DOMParser()).parseFromString(svg, 'image/svg+xml').documentElement ]),
		E('code', { 'style': 'display:block;word-break:break-all;max-width:40em' }, [ text ])
	]);
}

/* A read-only value of the modal that shows a QR code of other options'
 * current form values and redraws itself when they change. */
const QRValue = form.DummyValue.extend({
	text(section_id) { return null },

	renderWidget(section_id) {
		return E('div', { 'data-qr': this.option }, [ renderQR(this.text(section_id)) ]);
	},

	refresh(section_id) {
		const node = document.querySelector('[data-qr="%s"]'.format(this.option));

		if (node)
			dom.content(node, renderQR(this.text(section_id)));
	}
});

/* A choice whose default is the daemon's: shown when the option is unset,
 * and not written unless another choice is made (form.ListValue would
 * write the default on every save). */
const DefaultListValue = form.ListValue.extend({
	cfgvalue(section_id) {
		return this.super('cfgvalue', [ section_id ]) ?? this.default;
	}
});

/* Redraws the QR code option qr of the section; set as the onchange of the
 * options it shows. */
function redrawQR(qr) {
	return function(ev, section_id) {
		this.section.children.filter(c => c.option == qr).forEach(c => c.refresh(section_id));
	};
}

/* Sets another option's widget in the same (modal) section, as typing would
 * (validation, dependencies, onchange). */
function setField(section, section_id, option, value) {
	const el = section.getUIElement(section_id, option);

	if (!el)
		return false;

	el.setValue(value);
	el.triggerValidation();
	el.node.dispatchEvent(new CustomEvent('widget-change', { bubbles: true }));

	return true;
}

return view.extend({
	load() {
		return Promise.all([
			L.resolveDefault(callHosts(), []),
			L.resolveDefault(uci.load('network'), null),
			L.resolveDefault(callFeatures(), null),
			L.resolveDefault(uci.load('knockd'), null)
		]);
	},

	render([ hosts, network, featuresReply ]) {
		const features = buildFeatures(featuresReply);
		const intro = (features.spa && features.mail)
			? _('knockd-go listens on the WAN for knock sequences and fwknop SPA packets, and for the address that knocked opens or forwards ports, wakes LAN hosts, mails the admin or runs commands.')
			: _('knockd-go listens on the WAN for knock sequences, and for the address that knocked opens or forwards ports, wakes LAN hosts or runs commands.');
		const note = featuresNote(features);

		/* An element, not a fragment: the map re-renders its description
		 * after each save. */
		const m = new form.Map('knockd', _('Port knocking'),
			note ? E('div', {}, [ E('p', {}, [ intro ]), note ]) : intro);

		/* ---- the daemon ---- */

		let s = m.section(form.NamedSection, 'global', 'knockd', _('Daemon'));
		s.addremove = false;

		let o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.rmempty = false;

		o = s.option(form.DynamicList, 'interface', _('Interfaces'),
			_('Networks to listen on (default: wan and wan6), or devices such as eth1 or wg0.'));
		for (const net of uci.sections('network', 'interface'))
			if (net['.name'] != 'loopback')
				o.value(net['.name']);
		o.placeholder = 'wan';
		o.datatype = 'or(uciname,netdevname)';

		o = s.option(form.Flag, 'use_syslog', _('Log to syslog'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Value, 'logfile', _('Log file'),
			_('Also log to this file.'));
		o.placeholder = '/var/log/knockd.log';
		o.datatype = 'string';
		o.validate = (section_id, value) => (!value || value[0] == '/') ? true : _('Expecting an absolute path');

		o = s.option(DefaultListValue, 'firewall', _('Firewall'),
			_('How <em>open</em> and <em>forward</em> grants are made; automatic: fw4 when present, else iptables.'));
		o.value('auto', _('automatic'));
		o.value('fw4', 'fw4 (nftables)');
		o.value('iptables', 'iptables');
		o.value('iptables-legacy', 'iptables-legacy');
		o.value('iptables-nft', 'iptables-nft');
		o.value('none', _('none (commands only)'));
		o.default = 'auto';

		if (features.mail) {
			o = s.option(form.Value, 'sendmail', _('Mail program'),
				_('sendmail-compatible program (msmtp, ssmtp) used by <em>notify</em>.'));
			o.placeholder = '/usr/sbin/sendmail';
			o.validate = (section_id, value) => (!value || value[0] == '/') ? true : _('Expecting an absolute path');

			o = mailSender(s);
			o.placeholder = 'knockd@router.lan';

			o = s.option(form.Value, 'notify_interval', _('Mail interval'),
				_('Seconds between two mails about one door.'));
			o.placeholder = '600';
			o.datatype = 'uinteger';

			o = s.option(form.Value, 'notify_per_hour', _('Mails per hour'),
				_('At most this many notification mails an hour per door, all sources together: a door under a storm of knocks cannot use up the mails of another.'));
			o.placeholder = '10';
			o.datatype = 'range(1,3600)';
		}
		else if (uci.get('knockd', 'global', 'mail_from')) {
			/* Refused by a daemon without mail: kept in view, to be
			 * cleared. */
			mailSender(s, _('Mail is not in this build of knockd-go: the daemon refuses the configuration while a mail sender is set.'));
		}

		o = s.option(form.Value, 'max_attempts', _('Attempts tracked at most'),
			_('Knock attempts in progress the daemon keeps; the oldest first-step attempts are dropped first.'));
		o.placeholder = '32768';
		o.datatype = 'range(1,16777216)';

		o = s.option(form.Value, 'max_children', _('Commands at once'),
			_('At most this many start and stop commands run at the same time.'));
		o.placeholder = '32';
		o.datatype = 'range(1,4096)';

		/* ---- the doors ---- */

		let doorsText;
		if (features.spa && features.rotating)
			doorsText = _('Each door opens on its own knock sequence, SPA packet or rotating knock.');
		else if (features.spa)
			doorsText = _('Each door opens on its own knock sequence or SPA packet.');
		else if (features.rotating)
			doorsText = _('Each door opens on its own knock sequence or rotating knock.');
		else
			doorsText = _('Each door opens on its own knock sequence.');

		s = m.section(form.GridSection, 'door', _('Doors'), doorsText);
		s.addremove = true;
		s.anonymous = false;
		s.nodescriptions = true;
		s.addbtntitle = _('Add door');
		s.modaltitle = section_id => _('Door') + ' » ' + section_id;

		s.tab('general', _('Knock'));
		s.tab('actions', _('Actions'));
		if (features.spa)
			s.tab('spa', _('SPA'));
		if (features.rotating)
			s.tab('rotating', _('Rotating knock'));
		s.tab('commands', _('Commands'));
		s.tab('advanced', _('Advanced'));

		/* Table columns (not in the modal). */
		o = s.option(form.DummyValue, '_kind', _('Opens on'));
		o.modalonly = false;
		o.textvalue = function(section_id) {
			const get = opt => uci.get('knockd', section_id, opt);
			const kind = doorKind(get);
			const missing = doorMissing(features, section_id);
			let text;

			if (kind != 'knock' && missing.includes(kind))
				text = missingKindTitles[kind];
			else if (kind == 'spa')
				text = '%s, udp/%s'.format(kindTitles.spa, get('spa_port') || '62201');
			else if (kind == 'rotating')
				text = kindTitles.rotating;
			else
				text = get('sequence') || '-';

			if (!missing.length)
				return '%h'.format(text);

			return E('strong', { 'class': 'knockd-missing', 'title': doorMissingText(features, missing) }, [ '\u26a0 ' + text ]);
		};

		o = s.option(form.DummyValue, '_actions', _('Actions'));
		o.modalonly = false;
		o.textvalue = function(section_id) {
			const get = opt => L.toArray(uci.get('knockd', section_id, opt));
			const out = [];

			for (const p of get('open'))
				out.push(_('open %s').format(p));
			for (const f of get('forward'))
				out.push(_('forward %s').format(f));
			for (const w of get('wake'))
				out.push(_('wake %s').format(w));
			for (const n of get('notify'))
				out.push(_('notify %s').format(n));
			if (get('start_command').length)
				out.push(_('command'));

			return out.length ? out.join(', ') : '-';
		};

		/* General: the knock. */
		o = s.taboption('general', MissingNote, '_missing');
		o.modalonly = true;
		o.features = features;

		o = s.taboption('general', form.Flag, 'enabled', _('Enabled'));
		o.default = '1';
		o.editable = true;
		o.modalonly = false;

		o = s.taboption('general', form.Value, 'sequence', _('Knock sequence'),
			_('Ports in order, each optionally with <code>:udp</code> or <code>:tcp</code> (the default), e.g. <code>7000,8000:udp,9000</code>.'));
		o.modalonly = true;
		o.placeholder = '7000,8000:udp,9000';
		o.validate = function(section_id, value) {
			if (value)
				return checkSequence(value);

			/* Without the feature its option is not in the form: a
			 * flagged door keeps what it has. */
			const sec = this.section;
			const get = opt => uci.get('knockd', section_id, opt);
			const spa = features.spa ? sec.formvalue(section_id, 'spa') : get('spa');
			const secret = features.rotating ? sec.formvalue(section_id, 'sequence_secret') : get('sequence_secret');

			if (spa == '1' || spa == 'yes' || secret)
				return true;

			return needTriggerText(features);
		};

		o = s.taboption('general', form.Value, 'seq_timeout', _('Sequence timeout'),
			_('Seconds to complete the sequence.'));
		o.modalonly = true;
		o.placeholder = '25';
		o.datatype = 'range(1,3600)';

		o = s.taboption('general', form.Value, 'tcpflags', _('TCP flags'),
			_('Only TCP knocks with these flags count, e.g. <code>syn</code> or <code>syn,!ack</code>.'));
		o.modalonly = true;
		o.placeholder = 'syn';
		o.cfgvalue = function(section_id) {
			const v = uci.get('knockd', section_id, 'tcpflags');
			return Array.isArray(v) ? v.join(',') : v;
		};
		o.validate = function(section_id, value) {
			if (!value)
				return true;
			for (const f of value.split(/[\s,]+/).filter(x => x))
				if (!/^!?(fin|syn|rst|psh|ack|urg)$/i.test(f))
					return _('Unknown TCP flag "%s" (fin, syn, rst, psh, ack, urg, each optionally with !)').format(f);
			return true;
		};

		o = s.taboption('general', form.DynamicList, 'interface', _('Only on'),
			_('Limit this door to these networks or devices (e.g. wan6); empty: wherever the daemon listens.'));
		o.modalonly = true;
		o.datatype = 'netdevname';

		/* Actions. */
		o = s.taboption('actions', form.DynamicList, 'open', _('Open ports'),
			_('Accept these ports on the router from the address that knocked, e.g. <code>tcp/22</code>.'));
		o.modalonly = true;
		o.placeholder = 'tcp/22';
		o.validate = (section_id, value) => (!value || checkProtoPort(value)) ? true : _('Expecting proto/port, e.g. tcp/22');

		o = s.taboption('actions', form.DynamicList, 'forward', _('Forward ports'),
			_('Forward a WAN port to a LAN host for the address that knocked: <code>tcp/3389-&gt;192.168.1.10:3389</code>; add <code>masquerade</code> when the host does not route back through the router.'));
		o.modalonly = true;
		o.placeholder = 'tcp/3389->192.168.1.10:3389';
		o.validate = (section_id, value) => (!value || checkForward(value)) ? true : _('Expecting proto/port->host[:port] [masquerade]');

		o = s.taboption('actions', form.Value, 'open_duration', _('Open for'),
			_('Seconds the opened and forwarded ports stay open (default: the command timeout).'));
		o.modalonly = true;
		o.placeholder = '10';
		o.datatype = 'uinteger';

		o = s.taboption('actions', form.DynamicList, 'wake', _('Wake-on-LAN'),
			_('Send a magic packet to these LAN hosts.'));
		o.modalonly = true;
		o.datatype = 'macaddr';
		/* LuCI inserts a choice's label as HTML: escape the lease fields
		 * (the plugin checks them too, but any local user can write the
		 * lease file). */
		for (const h of hosts) {
			if (!h.mac)
				continue;
			const mac = String(h.mac).toLowerCase();
			const about = [ h.name, h.ip ].filter(x => x).join(', ');
			o.value(mac, about ? '%h (%h)'.format(mac, about) : '%h'.format(mac));
		}

		o = s.taboption('actions', form.Value, 'wake_interface', _('Wake-on-LAN device'));
		o.modalonly = true;
		o.placeholder = 'br-lan';
		o.datatype = 'netdevname';

		o = s.taboption('actions', form.Value, 'wake_password', _('SecureOn password'),
			_('Optional, as <code>aa:bb:cc:dd:ee:ff</code> or <code>1.2.3.4</code>.'));
		o.modalonly = true;
		o.datatype = 'or(macaddr,ip4addr)';
		o.password = true;

		if (features.mail) {
			o = s.taboption('actions', form.DynamicList, 'notify', _('Notify'),
				_('Mail these addresses when the door opens (needs the mail program).'));
			o.modalonly = true;
			o.placeholder = 'admin@example.com';
			o.validate = (section_id, value) => (!value || checkMail(value)) ? true : _('Expecting a mail address');
		}

		/* SPA. */
		if (features.spa) {
			o = s.taboption('spa', form.Flag, 'spa', _('Single packet authorization'),
				_('Open on one fwknop packet (fwknop client, fwknop2 Android app) instead of a knock sequence.'));
			o.modalonly = true;

			o = s.taboption('spa', form.Value, 'spa_port', _('SPA port'), _('UDP port.'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.placeholder = '62201';
			o.datatype = 'port';

			o = s.taboption('spa', form.Button, '_spa_keygen', _('Keys'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.inputtitle = _('Generate keys');
			o.inputstyle = 'apply';
			o.write = o.remove = function() {};
			o.onclick = function(ev, section_id) {
				return callKeygen('spa').then(res => {
					if (!res || !res.key_base64 || !res.hmac_key_base64)
						throw new Error(_('knockd returned no keys'));

					setField(this.section, section_id, 'spa_key_base64', res.key_base64);
					setField(this.section, section_id, 'spa_hmac_key_base64', res.hmac_key_base64);
				}).catch(e => ui.addNotification(null, E('p', _('Key generation failed: %s').format(e.message)), 'error'));
			};

			o = s.taboption('spa', form.Value, 'spa_key_base64', _('Key (base64)'),
				_('fwknop KEY_BASE64 (Rijndael).'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.password = true;
			o.validate = (section_id, value) => (!value || checkBase64(value)) ? true : _('Expecting base64');
			o.onchange = redrawQR('_spa_qr');

			o = s.taboption('spa', form.Value, 'spa_hmac_key_base64', _('HMAC key (base64)'),
				_('fwknop HMAC_KEY_BASE64.'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.password = true;
			o.validate = (section_id, value) => (!value || checkBase64(value)) ? true : _('Expecting base64');
			o.onchange = redrawQR('_spa_qr');

			o = s.taboption('spa', QRValue, '_spa_qr', _('QR code for fwknop2'),
				_('Scan with the fwknop2 Android app (Import keys).'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.text = function(section_id) {
				const sec = this.section;
				return fwknopQRText(sec.formvalue(section_id, 'spa_key_base64') || uci.get('knockd', section_id, 'spa_key_base64'),
					sec.formvalue(section_id, 'spa_hmac_key_base64') || uci.get('knockd', section_id, 'spa_hmac_key_base64'));
			};

			o = s.taboption('spa', DefaultListValue, 'spa_hmac_digest', _('HMAC digest'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.value('sha256', 'SHA-256');
			o.value('sha1', 'SHA-1');
			o.value('sha384', 'SHA-384');
			o.value('sha512', 'SHA-512');
			o.value('md5', 'MD5');
			o.value('sha3_256', 'SHA3-256');
			o.value('sha3_512', 'SHA3-512');
			o.default = 'sha256';

			o = s.taboption('spa', form.Value, 'spa_max_age', _('Packet lifetime'),
				_('Seconds an SPA packet stays valid (clock difference allowed).'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.placeholder = '120';
			o.datatype = 'range(1,86400)';

			o = s.taboption('spa', form.Value, 'spa_max_timeout', _('Longest opening'),
				_('Upper bound of the time a client may ask for, in seconds.'));
			o.modalonly = true;
			o.depends('spa', '1');
			o.datatype = 'uinteger';

			o = s.taboption('spa', form.Flag, 'spa_allow_nat', _('Allow forwarding requests'),
				_('Honour the client\'s NAT access requests (within <em>Forward ports</em>).'));
			o.modalonly = true;
			o.depends('spa', '1');

			o = s.taboption('spa', form.Flag, 'spa_allow_any_source', _('Allow any source'),
				_('Accept a packet whose address to open differs from its source (a client behind a NAT it knows of).'));
			o.modalonly = true;
			o.depends('spa', '1');
		}

		/* Rotating knock. */
		if (features.rotating) {
			o = s.taboption('rotating', form.Value, 'sequence_secret', _('Secret'),
				_('Base32 secret shared with the knocking clients; the sequence changes every step. Replaces the fixed sequence.'));
			o.modalonly = true;
			o.password = true;
			o.validate = (section_id, value) => value ? checkBase32Secret(value) : true;
			o.onchange = redrawQR('_rot_qr');

			o = s.taboption('rotating', form.Button, '_rot_keygen', _('New secret'));
			o.modalonly = true;
			o.inputtitle = _('Generate secret');
			o.inputstyle = 'apply';
			o.write = o.remove = function() {};
			o.onclick = function(ev, section_id) {
				return callKeygen('rotating').then(res => {
					if (!res || !res.secret)
						throw new Error(_('knockd returned no secret'));

					setField(this.section, section_id, 'sequence_secret', res.secret);
				}).catch(e => ui.addNotification(null, E('p', _('Secret generation failed: %s').format(e.message)), 'error'));
			};

			o = s.taboption('rotating', form.Value, 'sequence_length', _('Knocks per sequence'));
			o.modalonly = true;
			o.placeholder = '4';
			o.datatype = 'range(2,16)';
			o.onchange = redrawQR('_rot_qr');

			o = s.taboption('rotating', form.Value, 'sequence_step', _('Step'),
				_('Seconds each sequence is valid.'));
			o.modalonly = true;
			o.placeholder = '30';
			o.datatype = 'range(5,3600)';
			o.onchange = redrawQR('_rot_qr');

			o = s.taboption('rotating', form.Value, 'sequence_ports', _('Port range'));
			o.modalonly = true;
			o.placeholder = '10000-60000';
			o.validate = (section_id, value) => value ? checkPortRange(value) : true;
			o.onchange = redrawQR('_rot_qr');

			o = s.taboption('rotating', DefaultListValue, 'sequence_protocol', _('Protocol'));
			o.modalonly = true;
			o.value('tcp', 'TCP');
			o.value('udp', 'UDP');
			o.default = 'tcp';
			o.onchange = redrawQR('_rot_qr');

			o = s.taboption('rotating', QRValue, '_rot_qr', _('QR code'),
				_('The door\'s URI for <code>knock --uri</code>.'));
			o.modalonly = true;
			o.text = function(section_id) {
				const sec = this.section;
				const get = opt => sec.formvalue(section_id, opt) || uci.get('knockd', section_id, opt);
				return get('sequence_secret') ? rotatingURI(section_id, get) : null;
			};
		}

		/* Commands. */
		o = s.taboption('commands', form.Value, 'start_command', _('Start command'),
			_('Shell command run when the door opens; <code>%IP%</code> is the address that knocked.'));
		o.modalonly = true;

		o = s.taboption('commands', form.Value, 'stop_command', _('Stop command'),
			_('Run the command timeout after the start command.'));
		o.modalonly = true;

		o = s.taboption('commands', form.Value, 'start_command_6', _('Start command (IPv6)'),
			_('For knocks from IPv6 addresses; default: the start command.'));
		o.modalonly = true;

		o = s.taboption('commands', form.Value, 'stop_command_6', _('Stop command (IPv6)'),
			_('For knocks from IPv6 addresses; default: the stop command.'));
		o.modalonly = true;

		o = s.taboption('commands', form.Value, 'cmd_timeout', _('Command timeout'),
			_('Seconds between start and stop command.'));
		o.modalonly = true;
		o.placeholder = '10';
		o.datatype = 'uinteger';

		/* Advanced. */
		o = s.taboption('advanced', form.Value, 'target', _('Target address'),
			_('Only knocks sent to this address count.'));
		o.modalonly = true;
		o.datatype = 'ipaddr';

		o = s.taboption('advanced', form.Value, 'cooldown', _('Cooldown'),
			_('Seconds before the same address can open this door again.'));
		o.modalonly = true;
		o.datatype = 'uinteger';

		o = s.taboption('advanced', DefaultListValue, 'duplicate_knocks', _('Repeated knocks'));
		o.modalonly = true;
		o.value('ignore', _('ignore a repeat of the knock just matched'));
		o.value('strict', _('reset the attempt (as knockd 0.8)'));
		o.default = 'ignore';

		return m.render();
	}
});
