#!/usr/bin/env node
// The browser half of scripts/test/luci-browser.sh (read its header first).
// Runs in the router's network namespace with NODE_PATH pointing at
// playwright-core; drives Debian's chromium through LuCI's pages:
//
//   log in -> Doors: LuCI's modules load, the door table, SPA keys and their
//   QR code, an invalid sequence refused, a new sequence saved ->
//   Save & Apply -> the router's /etc/config/knockd has it and the daemon
//   took it (old sequence: no grant; new sequence from the client: grant) ->
//   Status: the grant appears (by the 5 s poll), Revoke, it goes ->
//   daemon disabled through Doors -> Status says it is not running ->
//   the router's knockd replaced by the package knockd-go's (--install-basic;
//   --basic-features is its "ubus call knockd features" reply) -> Doors:
//   the note naming knockd-go-full, what it lacks not offered, the SPA and
//   rotating doors flagged, their options kept through Save & Apply ->
//   Status: no diagnostics button when it has no doctor.
//
// Prints "ok   <what>" per step; the first failure throws (exit 1) after a
// screenshot dist/test-artifacts/luci-failure.png.
'use strict';

const fs = require('fs');
const path = require('path');
const { execSync } = require('child_process');
const { chromium } = require('playwright-core');

function args() {
	const a = {};
	const argv = process.argv.slice(2);
	for (let i = 0; i < argv.length; i += 2)
		a[argv[i].replace(/^--/, '')] = argv[i + 1];
	for (const k of ['url', 'user', 'password', 'chromium', 'profile', 'artifacts', 'state', 'knock', 'router-ns', 'modules', 'rotating-uri',
		'install-basic', 'basic-features'])
		if (!a[k])
			throw new Error(`missing --${k}`);
	return a;
}

const opt = args();
const OLD_SEQ = '7000 8000:udp 9000';
const NEW_SEQ = '7100,7200:udp,7300';
const BASIC_SEQ = '7400,7500,7600';
const CLIENT = '203.0.113.7';

const ok = what => console.log(`ok   ${what}`);
const sleep = ms => new Promise(r => setTimeout(r, ms));

function routerConfig() {
	// owrt-ns -d keeps the router's writable layer: its /etc/config/knockd.
	return fs.readFileSync(path.join(opt.state, 'upper/etc/config/knockd'), 'utf8');
}

function knock(seq) {
	execSync(`${opt.knock} ${seq.replace(/,/g, ' ')}`, { stdio: 'pipe' });
}

function nftOpenSet() {
	return execSync(`ip netns exec ${opt['router-ns']} nft list set inet fw4 knockd_open4`, { encoding: 'utf8' });
}

async function waitFor(what, fn, timeoutMs = 15000) {
	const end = Date.now() + timeoutMs;
	let last;
	while (Date.now() < end) {
		try {
			last = await fn();
			if (last)
				return last;
		} catch (e) {
			last = e;
		}
		await sleep(250);
	}
	throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
}

async function main() {
	const ctx = await chromium.launchPersistentContext(opt.profile, {
		executablePath: opt.chromium,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1280, height: 900 }
	});
	const page = ctx.pages()[0] || await ctx.newPage();
	const errors = [];
	page.on('pageerror', e => errors.push(`page error: ${e}`));
	// (HTTP errors come from 'response', with their URL; chromium's console
	// repeats them without it.)
	page.on('console', m => {
		if (m.type() === 'error' && !m.text().startsWith('Failed to load resource:'))
			errors.push(`console: ${m.text()}`);
	});
	page.on('response', r => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
	const shot = name => page.screenshot({ path: path.join(opt.artifacts, name), fullPage: true });

	try {
		await run(page, shot, errors);
	} catch (e) {
		await shot('luci-failure.png').catch(() => {});
		if (errors.length)
			console.log(`browser errors:\n  ${errors.join('\n  ')}`);
		throw e;
	} finally {
		await ctx.close();
	}
}

async function openDoors(page) {
	await page.goto(`${opt.url}/admin/services/knockd/doors`);
	await page.waitForSelector('.cbi-section-table-row[data-sid="ssh"]', { timeout: 20000 });
}

// The ids of the tabs of the open door dialog.
function modalTabs(page) {
	return page.$$eval('.modal .cbi-tabmenu li[data-tab]', l => l.map(x => x.getAttribute('data-tab')));
}

async function openDoor(page, door) {
	await page.click(`.cbi-section-table-row[data-sid="${door}"] .cbi-button-edit`);
	await page.waitForSelector('.modal .cbi-tabmenu');
}

// LuCI hides its dialog (ui.hideModal) and keeps the element.
async function modalClosed(page) {
	await page.waitForSelector('body.modal-overlay-active', { state: 'detached', timeout: 10000 })
		.catch(() => { throw new Error('the dialog did not close'); });
}

async function saveDoor(page) {
	await page.click('.modal .button-row .cbi-button-positive');
	await modalClosed(page);
}

async function saveAndApply(page) {
	await page.click('.cbi-page-actions .cbi-button-apply');
	await page.waitForSelector('text=Configuration changes applied.', { timeout: 30000 });
	// LuCI reloads the page after apply_display (1.5 s).
	await page.waitForLoadState('load');
}

async function run(page, shot, errors) {
	// ---- log in
	await page.goto(`${opt.url}/admin/services/knockd/doors`);
	await page.fill('input[name="luci_password"]', 'wrong');
	await page.fill('input[name="luci_username"]', opt.user);
	await page.click('button[type="submit"]');
	await page.waitForSelector('text=Invalid username and/or password');
	ok('a wrong password is refused');
	await page.fill('input[name="luci_username"]', opt.user);
	await page.fill('input[name="luci_password"]', opt.password);
	await page.click('button[type="submit"]');
	await page.waitForSelector('.cbi-section-table-row[data-sid="ssh"]', { timeout: 20000 });
	ok('logged in through rpcd\'s session login; the Doors view lists door "ssh"');
	errors.length = 0; // the login page's 403s were expected

	// ---- the modules of modules.txt exist in this LuCI
	const mods = fs.readFileSync(opt.modules, 'utf8').split('\n')
		.map(l => l.replace(/#.*/, '').trim().split(/\s+/)[0]).filter(Boolean);
	const missing = await page.evaluate(ms => Promise.all(ms.map(m =>
		L.require(m).then(() => null, e => `${m}: ${e.message}`))).then(r => r.filter(Boolean)), mods);
	if (missing.length)
		throw new Error(`modules.txt lists modules this LuCI does not have: ${missing.join('; ')}`);
	ok(`every module of modules.txt loads in this LuCI (${mods.length})`);

	// ---- the menu (from menu.d through the page tree)
	await page.waitForSelector('#tabmenu a:has-text("Status")');
	await page.waitForSelector('#topmenu a:has-text("Services")');
	ok('the menu shows Services and the tabs Doors, Status');

	// ---- the door table
	const rows = await page.$$eval('.cbi-section-table-row[data-sid]', r => r.map(x => x.getAttribute('data-sid')));
	if (rows.join(',') !== 'ssh,nas,vpn,admin')
		throw new Error(`door rows ${rows}`);
	const sshRow = await page.textContent('.cbi-section-table-row[data-sid="ssh"]');
	if (!sshRow.includes('7000,8000:udp,9000') || !sshRow.includes('open tcp/22'))
		throw new Error(`row of ssh: ${sshRow}`);
	ok('the table shows each door\'s trigger and actions');
	if (await page.$('#knockd-features-note'))
		throw new Error(`a note on missing features with a knockd that has them all: ${await page.textContent('#knockd-features-note')}`);
	if (!(await page.$('[id="cbi-knockd-global-sendmail"]')))
		throw new Error('the daemon section offers no mail program with a knockd that has mail');
	ok('no note on missing features, and the mail options (this knockd has every feature)');
	await shot('luci-doors.png');

	// ---- SPA door: generate keys, QR code
	await page.click('.cbi-section-table-row[data-sid="vpn"] .cbi-button-edit');
	await page.waitForSelector('.modal .cbi-tabmenu');
	await page.click('.modal .cbi-tabmenu li[data-tab="spa"] a');
	const oldKey = await page.inputValue('.modal [id="widget.cbid.knockd.vpn.spa_key_base64"]');
	await page.waitForSelector('.modal [data-qr="_spa_qr"] svg');
	const qr1 = await page.textContent('.modal [data-qr="_spa_qr"] code');
	if (qr1 !== `KEY_BASE64:${oldKey} HMAC_KEY_BASE64:Cl6hMZ6CzNl/Q2N6LE/4J+SDm4AOdaf/fdxdKa0W+hgRVbjYEw5jyaWYTw9ukbG2Ebbu2jQkqVBDbnAJRJKk7Q==`)
		throw new Error(`QR text ${qr1}`);
	ok('the SPA tab shows a QR code of the configured keys (fwknop2 format)');
	await page.click('.modal button:has-text("Generate keys")');
	const newKey = await waitFor('new SPA key', async () => {
		const k = await page.inputValue('.modal [id="widget.cbid.knockd.vpn.spa_key_base64"]');
		return k !== oldKey && k;
	});
	const qr2 = await page.textContent('.modal [data-qr="_spa_qr"] code');
	if (!/^[A-Za-z0-9+/]{43}=$/.test(newKey) || !qr2.startsWith(`KEY_BASE64:${newKey} HMAC_KEY_BASE64:`))
		throw new Error(`generated key ${newKey}, QR ${qr2}`);
	ok('"Generate keys" fills both keys from ubus knockd keygen and redraws the QR code');
	await page.setViewportSize({ width: 1280, height: 1400 });
	await page.locator('.modal').screenshot({ path: path.join(opt.artifacts, 'luci-doors-spa.png') });
	await page.setViewportSize({ width: 1280, height: 900 });
	// A phone would read this: decode the screenshot when zbarimg is here.
	let decoded = null;
	try {
		decoded = execSync(`zbarimg -q --raw ${path.join(opt.artifacts, 'luci-doors-spa.png')}`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
	} catch (e) {
		if (e.status === undefined || e.status === 127)
			console.log('note the QR code is not decoded: no zbarimg (Debian: zbar-tools)');
		else
			throw new Error(`zbarimg found no QR code in luci-doors-spa.png (status ${e.status})`);
	}
	if (decoded !== null) {
		if (decoded !== qr2)
			throw new Error(`the QR code reads ${decoded}, not ${qr2}`);
		ok('the SPA QR code decodes (zbarimg) to the keys');
	}
	await page.click('.modal button:has-text("Dismiss")');
	await modalClosed(page);

	// ---- rotating door: the QR code carries the daemon's URI; a new secret
	await page.click('.cbi-section-table-row[data-sid="admin"] .cbi-button-edit');
	await page.waitForSelector('.modal .cbi-tabmenu');
	await page.click('.modal .cbi-tabmenu li[data-tab="rotating"] a');
	await page.waitForSelector('.modal [data-qr="_rot_qr"] svg');
	const uri = await page.textContent('.modal [data-qr="_rot_qr"] code');
	if (uri !== opt['rotating-uri'])
		throw new Error(`rotating QR ${uri}, the daemon's URI ${opt['rotating-uri']}`);
	ok('the rotating tab\'s QR code is the URI of knockd --show-secret-uri');
	const secretSel = '.modal [id="widget.cbid.knockd.admin.sequence_secret"]';
	const oldSecret = await page.inputValue(secretSel);
	await page.click('.modal button:has-text("Generate secret")');
	const newSecret = await waitFor('a new secret', async () => {
		const v = await page.inputValue(secretSel);
		return v !== oldSecret && v;
	});
	if (!/^[A-Z2-7]{26,103}$/.test(newSecret) || !(await page.textContent('.modal [data-qr="_rot_qr"] code')).includes(`secret=${newSecret}&`))
		throw new Error(`generated secret ${newSecret}`);
	ok('"Generate secret" fills a base32 secret from ubus knockd keygen and redraws the QR code');
	await page.click('.modal button:has-text("Dismiss")');
	await modalClosed(page);

	// ---- Wake-on-LAN choices from ubus knockd hosts
	await page.click('.cbi-section-table-row[data-sid="nas"] .cbi-button-edit');
	await page.waitForSelector('.modal .cbi-tabmenu');
	await page.click('.modal .cbi-tabmenu li[data-tab="actions"] a');
	const wakeHtml = await page.innerHTML('.modal [id="cbi-knockd-nas-wake"]');
	if (!wakeHtml.includes('66:77:88:99:aa:bb') || !wakeHtml.includes('laptop'))
		throw new Error('the Wake-on-LAN list offers no host of the DHCP leases');
	ok('the Wake-on-LAN list offers the LAN hosts of ubus knockd hosts');
	await page.click('.modal button:has-text("Dismiss")');
	await modalClosed(page);

	// ---- edit the sequence of "ssh"
	await openDoor(page, 'ssh');
	const fullTabs = await modalTabs(page);
	if (!fullTabs.includes('spa') || !fullTabs.includes('rotating') || !(await page.$('.modal [id="cbi-knockd-ssh-notify"]')))
		throw new Error(`the dialog of door ssh does not offer SPA, rotating knocks and mail: tabs ${fullTabs}`);
	ok('a knock door\'s dialog offers SPA, rotating knocks and mail (tabs SPA, Rotating knock; Notify)');
	const seq = '.modal [id="widget.cbid.knockd.ssh.sequence"]';
	await page.fill(seq, '7100,99999');
	await page.dispatchEvent(seq, 'blur');
	await waitFor('the invalid sequence to be flagged', () => page.$eval(seq, e => e.classList.contains('cbi-input-invalid')));
	ok('an invalid sequence (port 99999) is flagged');
	await page.fill(seq, NEW_SEQ);
	await page.dispatchEvent(seq, 'blur');
	await waitFor('the new sequence to be valid', () => page.$eval(seq, e => !e.classList.contains('cbi-input-invalid')));
	await page.click('.modal .button-row .cbi-button-positive');
	await modalClosed(page);
	await waitFor('the table to show the new sequence',
		async () => (await page.textContent('.cbi-section-table-row[data-sid="ssh"]')).includes(NEW_SEQ));
	await saveAndApply(page);
	await page.waitForSelector('.cbi-section-table-row[data-sid="ssh"]', { timeout: 20000 });
	const conf = routerConfig();
	if (!conf.includes(`option sequence '${NEW_SEQ}'`))
		throw new Error(`router's /etc/config/knockd after apply:\n${conf}`);
	ok('Save & Apply: the router\'s /etc/config/knockd has the new sequence (rpcd committed it)');

	// ---- status, then knock
	await page.goto(`${opt.url}/admin/services/knockd/status`);
	await page.waitForSelector('#knockd-grants');
	await waitFor('the Status view to list door ssh with the daemon running',
		async () => (await page.textContent('#knockd-doors')).includes('ssh'), 20000);
	ok('the Status view shows the running daemon and its doors');
	if (!(await page.$('#knockd-diagnostics button:has-text("Run diagnostics")')))
		throw new Error('no "Run diagnostics" button with a knockd that has the doctor');
	ok('the Status view offers "Run diagnostics"');

	// rpcd sent config.change when the apply started; procd reloaded the
	// daemon a second later, before LuCI's apply holdoff (4 s) was over.
	knock(OLD_SEQ);
	await sleep(1000);
	if (nftOpenSet().includes(CLIENT))
		throw new Error(`the old sequence still opens the door:\n${nftOpenSet()}`);
	ok('the daemon took the new sequence: the old one opens nothing');
	await waitFor('the new sequence to open the door', async () => {
		knock(NEW_SEQ);
		await sleep(1000);
		return nftOpenSet().includes(CLIENT);
	}, 10000);
	ok(`the client knocked the new sequence ${NEW_SEQ}; fw4's knockd_open4 set holds ${CLIENT}`);

	const grantRow = `#knockd-grants button[data-source="${CLIENT}"][data-door="ssh"]`;
	await page.waitForSelector(grantRow, { timeout: 12000 });
	const grantText = await page.textContent('#knockd-grants');
	if (!grantText.includes('tcp/22'))
		throw new Error(`grant row: ${grantText}`);
	ok('the grant appeared on the Status view by itself (5 s poll)');
	await shot('luci-status.png');

	await page.click(grantRow);
	await page.waitForSelector(grantRow, { state: 'detached', timeout: 10000 });
	await waitFor('the firewall element to go', () => !nftOpenSet().includes(CLIENT), 5000);
	ok('Revoke removed the grant from the view and from the firewall');

	// ---- disable the daemon through Doors; Status says so
	await openDoors(page);
	await page.uncheck('[id="cbid.knockd.global.enabled"] input[type="checkbox"]');
	await saveAndApply(page);
	await page.goto(`${opt.url}/admin/services/knockd/status`);
	await waitFor('the Status view to say the daemon is not running',
		async () => { await page.reload(); return (await page.textContent('#knockd-status-daemon')).includes('not running'); }, 20000);
	ok('disabled through Doors + Save & Apply, the Status view says knockd is not running');

	await basicPass(page, shot);

	// Expected: a checked apply asks cgi-io's /cgi-bin/cgi-exec for the
	// interface the browser came in on; cgi-io is not installed here, and
	// LuCI carries on without.
	const real = errors.filter(e => !/^HTTP 404 POST \S+\/cgi-bin\/cgi-exec\?/.test(e));
	if (real.length)
		throw new Error(`errors in the browser console:\n  ${real.join('\n  ')}`);
	ok('no JavaScript errors in the browser');
}

// The package knockd-go's knockd in place of the full one, the daemon
// disabled (it would refuse this configuration): what the views offer.
async function basicPass(page, shot) {
	const feats = JSON.parse(opt['basic-features']);
	const lacks = ['spa', 'rotating', 'mail', 'doctor'].filter(k => feats[k] === false);
	if (!lacks.length || !feats.full_package)
		throw new Error(`knockd-go's knockd lacks no feature or names no package that has them: ${opt['basic-features']}`);
	execSync(opt['install-basic'], { stdio: 'pipe' });
	ok(`the router's knockd is now knockd-go's (it lacks ${lacks.join(', ')}; ${feats.full_package} has them)`);

	// ---- Doors: the note, the flagged doors
	await openDoors(page);
	const note = await waitFor('the note on missing features', async () => {
		const el = await page.$('#knockd-features-note');
		return el && el.textContent();
	});
	const named = { spa: 'SPA', rotating: 'rotating knocks', mail: 'mail' };
	for (const k of Object.keys(named))
		if (feats[k] === false && !note.includes(named[k]))
			throw new Error(`the note does not name ${named[k]}: ${note}`);
	if (!note.includes(feats.full_package))
		throw new Error(`the note does not name ${feats.full_package}: ${note}`);
	ok(`the Doors view says what this build lacks and names ${feats.full_package}: "${note.trim()}"`);

	const rows = await page.$$eval('.cbi-section-table-row[data-sid]', r => r.map(x => x.getAttribute('data-sid')));
	if (rows.join(',') !== 'ssh,nas,vpn,admin')
		throw new Error(`door rows ${rows}: a door was dropped`);
	const flagged = { vpn: ['spa', 'SPA (not in this build)'], admin: ['rotating', 'Rotating knock (not in this build)'] };
	for (const [door, [k, text]] of Object.entries(flagged)) {
		if (feats[k] !== false)
			continue;
		const cell = `.cbi-section-table-row[data-sid="${door}"] .knockd-missing`;
		if (!(await page.$(cell)) || !(await page.textContent(cell)).includes(text))
			throw new Error(`door ${door} is not flagged "${text}": ${await page.textContent(`.cbi-section-table-row[data-sid="${door}"]`)}`);
		ok(`door ${door} stays in the table, flagged "${text}"`);
	}
	const sendmail = await page.$('[id="cbi-knockd-global-sendmail"]');
	if (feats.mail === false) {
		const from = await page.$('[id="cbi-knockd-global-mail_from"]');
		if (sendmail || !from || !(await from.textContent()).includes('Mail is not in this build'))
			throw new Error('the daemon section offers mail, or does not flag the mail sender it has, with a knockd without mail');
		ok('the daemon section offers no mail options and flags the mail sender set');
	} else if (!sendmail) {
		throw new Error('the daemon section offers no mail program with a knockd that has mail');
	}
	await shot('luci-doors-knockd-go.png');

	// ---- a knock door's dialog: nothing the build lacks
	await openDoor(page, 'ssh');
	const tabs = await modalTabs(page);
	const offered = {
		spa: ['the SPA tab', tabs.includes('spa') || !!(await page.$('.modal [id^="cbi-knockd-ssh-spa"]')) || !!(await page.$('.modal button:has-text("Generate keys")'))],
		rotating: ['the Rotating knock tab', tabs.includes('rotating') || !!(await page.$('.modal [id^="cbi-knockd-ssh-sequence_"]')) || !!(await page.$('.modal button:has-text("Generate secret")'))],
		mail: ['Notify', !!(await page.$('.modal [id="cbi-knockd-ssh-notify"]'))]
	};
	for (const [k, [what, there]] of Object.entries(offered)) {
		if (feats[k] === false && there)
			throw new Error(`the dialog offers ${what} with a knockd without it (tabs ${tabs})`);
		if (feats[k] !== false && !there)
			throw new Error(`the dialog does not offer ${what} with a knockd that has it (tabs ${tabs})`);
	}
	ok(`door ssh's dialog offers only what knockd-go has (tabs ${tabs.join(', ')})`);
	await page.fill('.modal [id="widget.cbid.knockd.ssh.sequence"]', BASIC_SEQ);
	await page.dispatchEvent('.modal [id="widget.cbid.knockd.ssh.sequence"]', 'blur');
	await saveDoor(page);

	// ---- a flagged door's dialog: the warning; saving it keeps its options
	if (feats.spa === false) {
		await openDoor(page, 'vpn');
		const warn = await page.textContent('.modal [data-name="_missing"]', { timeout: 5000 }).catch(() => '');
		if (!warn.includes('SPA') || !warn.includes(feats.full_package))
			throw new Error(`door vpn's dialog has no warning on SPA: "${warn}"`);
		ok('door vpn\'s dialog says SPA is not in this build');
		await saveDoor(page);
	}
	await waitFor('the table to show the new sequence',
		async () => (await page.textContent('.cbi-section-table-row[data-sid="ssh"]')).includes(BASIC_SEQ));
	await saveAndApply(page);
	const conf = routerConfig();
	const kept = [
		`option sequence '${BASIC_SEQ}'`,
		"option spa '1'",
		"option spa_key_base64 'wDTSaHJuqY2SX6qMEPRAoC3nDwfQRWFYM+X7dD+sR1o='",
		"option sequence_secret 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'",
		"option sequence_ports '20000-29999'",
		"option mail_from 'knockd@router.lan'"
	].filter(l => !conf.includes(l));
	if (kept.length)
		throw new Error(`after Save & Apply the router's /etc/config/knockd lacks ${kept.join('; ')}:\n${conf}`);
	ok('Save & Apply (door ssh edited, door vpn saved): the SPA and rotating doors and the mail sender keep their options');

	// ---- Status: diagnostics
	await page.goto(`${opt.url}/admin/services/knockd/status`);
	await page.waitForSelector('#knockd-diagnostics');
	const button = await page.$('#knockd-diagnostics button:has-text("Run diagnostics")');
	if (feats.doctor === false) {
		if (button)
			throw new Error('the Status view offers "Run diagnostics" with a knockd without the doctor');
		const why = await page.textContent('#knockd-diagnostics');
		if (!why.includes(feats.full_package))
			throw new Error(`the diagnostics section does not name ${feats.full_package}: ${why}`);
		ok(`the Status view has no "Run diagnostics" button, and names ${feats.full_package}`);
	} else if (!button) {
		throw new Error('no "Run diagnostics" button with a knockd that has the doctor');
	}
}

main().catch(e => {
	console.log(`FAIL ${e.message}`);
	process.exit(1);
});
