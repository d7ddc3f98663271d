'use strict';
'require view';
'require dom';
'require poll';
'require rpc';
'require ui';

/*
 * Services -> Port knocking -> Status: "ubus call knockd status", refreshed
 * every 5 seconds; each active grant can be revoked. "Diagnostics" runs
 * "ubus call knockd doctor" (knockd doctor: why a knock does not open),
 * unless "ubus call knockd features" says this build has no doctor (the
 * package knockd-go; knockd-go-full has it): then the section says so. An
 * older knockd without "features": the button is there.
 */

const callStatus = rpc.declare({
	object: 'knockd',
	method: 'status',
	expect: { '': {} }
});

const callDoctor = rpc.declare({
	object: 'knockd',
	method: 'doctor',
	expect: { '': {} }
});

const callRevoke = rpc.declare({
	object: 'knockd',
	method: 'revoke',
	params: [ 'door', 'source' ]
});

const callFeatures = rpc.declare({
	object: 'knockd',
	method: 'features',
	expect: { '': {} }
});

const counterTitles = [
	[ 'packets', _('Packets seen') ],
	[ 'kernel_packets', _('Packets passed by the kernel filter') ],
	[ 'kernel_drops', _('Packets dropped by the kernel') ],
	[ 'attempts', _('Knock attempts in progress') ],
	[ 'sources', _('Sources knocking') ],
	[ 'evictions', _('Attempts evicted (table full)') ],
	[ 'ignored_sources', _('Sources ignored') ],
	[ 'successes', _('Doors opened') ],
	[ 'actions_dropped', _('Actions dropped') ],
	[ 'spa_accepted', _('SPA packets accepted') ],
	[ 'spa_rejected', _('SPA packets rejected') ],
	[ 'panics', _('Internal errors') ],
	[ 'running_commands', _('Commands running') ],
	[ 'pending_stop_commands', _('Stop commands pending') ]
];

const kindTitles = {
	knock: _('Knock sequence'),
	spa: _('SPA (fwknop)'),
	rotating: _('Rotating knock')
};

function fmtTime(unix) {
	if (!unix)
		return '-';

	const d = new Date(unix * 1000);
	const pad = n => String(n).padStart(2, '0');

	return '%04d-%s-%s %s:%s:%s'.format(d.getFullYear(), pad(d.getMonth() + 1), pad(d.getDate()),
		pad(d.getHours()), pad(d.getMinutes()), pad(d.getSeconds()));
}

function fmtSeconds(s) {
	s = Math.max(0, Math.round(+s || 0));

	if (s < 60)
		return _('%ds').format(s);
	if (s < 3600)
		return _('%dm %ds').format(Math.floor(s / 60), s % 60);

	return _('%dh %dm').format(Math.floor(s / 3600), Math.floor(s % 3600 / 60));
}

function table(id, titles, rows, empty) {
	return E('table', { 'class': 'table', 'id': id }, [
		E('tr', { 'class': 'tr table-titles' },
			titles.map(t => E('th', { 'class': 'th' }, [ t ]))),
		...(rows.length ? rows.map(r => E('tr', { 'class': 'tr' },
			r.map((c, i) => E('td', { 'class': 'td', 'data-title': titles[i] }, [ c ]))))
			: [ E('tr', { 'class': 'tr placeholder' }, [
				E('td', { 'class': 'td', 'colspan': titles.length }, [ E('em', {}, [ empty ]) ])
			]) ])
	]);
}

return view.extend({
	load() {
		return Promise.all([
			L.resolveDefault(callStatus(), {}),
			L.resolveDefault(callFeatures(), null)
		]);
	},

	handleRevoke(grant, ev) {
		return callRevoke(grant.door, grant.source).then(res => {
			if (!res || !res.revoked)
				throw new Error(res?.error || _('no such grant'));

			return this.refresh();
		}).catch(e => {
			ui.addNotification(null, E('p', _('Could not revoke the grant of %s on door %s: %s')
				.format(grant.source, grant.door, e.message)), 'error');
			return this.refresh();
		});
	},

	refresh() {
		return L.resolveDefault(callStatus(), {}).then(st => this.update(st));
	},

	renderDaemon(st) {
		if (st.running === false || !st.version)
			return E('div', { 'class': 'alert-message warning' }, [
				E('p', {}, [ _('knockd is not running.') ]),
				E('p', {}, [ _('Enable the daemon and add an enabled door under Doors, then Save & Apply.') ])
			]);

		const devices = L.toArray(st.devices).map(d => E('div', {}, [
			E('strong', {}, [ d.name ]), ' ',
			d.present ? (L.toArray(d.addresses).join(', ') || _('no address')) : E('em', {}, [ _('not present (waiting for it)') ])
		]));

		return table('knockd-daemon', [ _('Version'), _('Running since'), _('Listening on') ], [
			[ st.version, fmtTime(st.started), devices.length ? E('div', {}, devices) : '-' ]
		], '');
	},

	renderDoors(st) {
		const rows = L.toArray(st.doors).map(d => [
			d.name,
			kindTitles[d.kind] || d.kind || '-',
			L.toArray(d.devices).join(', ') || _('all'),
			L.toArray(d.actions).join(', ') || '-',
			String(d.attempts ?? 0)
		]);

		return table('knockd-doors', [ _('Door'), _('Opens on'), _('Devices'), _('Actions'), _('Attempts in progress') ],
			rows, _('No door is active.'));
	},

	renderGrants(st) {
		const rows = L.toArray(st.grants).map(g => [
			g.door,
			g.source,
			g.what || '-',
			E('span', { 'title': fmtTime(g.until) }, [ fmtSeconds(g.expires_in) ]),
			E('button', {
				'class': 'btn cbi-button cbi-button-remove',
				'data-door': g.door,
				'data-source': g.source,
				'click': ui.createHandlerFn(this, 'handleRevoke', g),
				'disabled': this.readonly || null
			}, [ _('Revoke') ])
		]);

		return table('knockd-grants', [ _('Door'), _('Source'), _('Open'), _('Closes in'), '' ],
			rows, _('No grant is active.'));
	},

	renderCounters(st) {
		const c = st.counters || {};
		const known = counterTitles.filter(([ k ]) => k in c).map(([ k, t ]) => [ t, String(c[k]) ]);
		const other = Object.keys(c).filter(k => !counterTitles.some(([ n ]) => n == k)).sort()
			.map(k => [ k.replace(/_/g, ' '), String(c[k]) ]);

		return table('knockd-counters', [ _('Counter'), _('Value') ], known.concat(other), _('No counters yet.'));
	},

	handleDoctor(ev) {
		dom.content(this.boxes.doctor, E('em', { 'class': 'spinning' }, [ _('Checking…') ]));
		return L.resolveDefault(callDoctor(), {}).then(rep => {
			const rows = L.toArray(rep?.findings).map(f => [
				f.level === 'problem' ? E('strong', {}, [ _('Problem') ]) : (f.level === 'note' ? _('Note') : _('OK')),
				f.check || '-',
				E('div', {}, [ f.text || '', f.fix ? E('div', {}, [ E('em', {}, [ _('Fix:') + ' ' + f.fix ]) ]) : '' ])
			]);
			const n = rep?.problems ?? 0;
			dom.content(this.boxes.doctor, [
				E('p', {}, [ n > 0 ? _('%d problem(s) found.').format(n) : _('No problem found.') ]),
				table('knockd-doctor', [ _('Result'), _('Check'), _('Details') ], rows, _('No answer from knockd.'))
			]);
		});
	},

	renderRecent(id, list, empty) {
		const rows = L.toArray(list).slice().sort((a, b) => (b.time || 0) - (a.time || 0))
			.map(e => [ fmtTime(e.time), e.door || '-', e.source || '-', e.what || '-' ]);

		return table(id, [ _('Time'), _('Door'), _('Source'), _('Details') ], rows, empty);
	},

	update(st) {
		st = st || {};

		const b = this.boxes;

		dom.content(b.daemon, this.renderDaemon(st));
		dom.content(b.grants, this.renderGrants(st));
		dom.content(b.doors, this.renderDoors(st));
		dom.content(b.opened, this.renderRecent('knockd-opened', st.recent?.opened, _('Nothing opened yet.')));
		dom.content(b.rejected, this.renderRecent('knockd-rejected', st.recent?.rejected, _('Nothing rejected yet.')));
		dom.content(b.counters, this.renderCounters(st));
	},

	renderDiagnostics(features) {
		if (L.isObject(features) && features.doctor === false)
			return E('div', { 'class': 'cbi-section', 'id': 'knockd-diagnostics' }, [
				E('h3', {}, [ _('Diagnostics') ]),
				E('div', { 'class': 'cbi-section-descr', 'id': 'knockd-no-doctor' }, [
					_('Diagnostics (knockd doctor) are not in this build of knockd-go.'),
					(typeof features.full_package == 'string' && features.full_package)
						? ' ' + _('The package %s has every feature.').format(features.full_package) : ''
				])
			]);

		return E('div', { 'class': 'cbi-section', 'id': 'knockd-diagnostics' }, [
			E('h3', {}, [ _('Diagnostics') ]),
			E('div', { 'class': 'cbi-section-descr' }, [ _('Why does a knock not open? Checks devices, firewall rule order, silent knock ports, forwarding, the clock and the mailer, and shows the last knock seen per door.') ]),
			E('button', { 'class': 'cbi-button cbi-button-action', 'click': ui.createHandlerFn(this, 'handleDoctor') }, [ _('Run diagnostics') ]),
			this.boxes.doctor = E('div', { 'id': 'knockd-status-doctor' })
		]);
	},

	render([ st, features ]) {
		this.readonly = (L.hasViewPermission() === false);
		this.boxes = {};

		const section = (title, name) => E('div', { 'class': 'cbi-section' }, [
			E('h3', {}, [ title ]),
			this.boxes[name] = E('div', { 'id': 'knockd-status-' + name })
		]);

		const node = E([], [
			E('h2', {}, [ _('Port knocking: status') ]),
			E('div', { 'class': 'cbi-map-descr' }, [ _('Live state of knockd-go, refreshed every 5 seconds.') ]),
			section(_('Daemon'), 'daemon'),
			section(_('Active grants'), 'grants'),
			section(_('Doors'), 'doors'),
			section(_('Last successes'), 'opened'),
			section(_('Last rejections'), 'rejected'),
			section(_('Counters'), 'counters'),
			this.renderDiagnostics(features)
		]);

		this.update(st);
		poll.add(() => this.refresh(), 5);

		return node;
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
