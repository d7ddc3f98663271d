#!/usr/bin/env node
// Static checks of a LuCI app directory (openwrt-feed/luci/luci-app-*), run
// by scripts/test/luci-app.sh with no OpenWrt tools and no LuCI checkout:
//
//   node check-app.js MODULES_TXT APP_DIR
//
// - every htdocs .js file is a LuCI class file: 'use strict' and 'require'
//   directives first, each required module in MODULES_TXT, and the source
//   compiles (node --check) wrapped as luci.js's require() wraps it:
//   (function(window, document, L, <modules>) { <source> });
// - _() is called with string literals only (what the translation scanner
//   extracts);
// - every .json file parses; menu.d views exist; the ACL groups menu.d
//   depends on are defined in acl.d;
// - every ubus method a view declares (rpc.declare) and every UCI config it
//   loads is granted by acl.d, writes (uci and the methods the ACL lists as
//   write) by a write grant;
// - the Makefile's LUCI_DEPENDS names the package of every required module.
//
// Prints "ok   <what>" / "FAIL <what>" lines (as scripts/test/lib/checks.bash
// does) and exits 1 when a check failed.
'use strict';

const fs = require('fs');
const path = require('path');
const os = require('os');
const { execFileSync } = require('child_process');

const [modulesFile, appDir] = process.argv.slice(2);
if (!modulesFile || !appDir) {
	console.error('usage: check-app.js MODULES_TXT APP_DIR');
	process.exit(2);
}

let fails = 0;
let checks = 0;
const ok = what => { checks++; console.log(`ok   ${what}`); };
const fail = what => { checks++; fails++; console.log(`FAIL ${what}`); };
const check = (cond, what) => (cond ? ok(what) : fail(what));

const app = path.basename(path.resolve(appDir));
const rel = f => path.relative(appDir, f);

function walk(dir) {
	if (!fs.existsSync(dir))
		return [];
	return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e => {
		const p = path.join(dir, e.name);
		return e.isDirectory() ? walk(p) : [p];
	});
}

// module -> package
const modules = new Map();
for (const line of fs.readFileSync(modulesFile, 'utf8').split('\n')) {
	const l = line.replace(/#.*/, '').trim();
	if (l) {
		const [mod, pkg] = l.split(/\s+/);
		modules.set(mod, pkg);
	}
}

// The leading string directives of a class file, as luci.js reads them.
function directives(src) {
	const out = [];
	const re = /^\s*(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*\s*(['"])((?:(?!\1).)*)\1\s*;?/;
	let rest = src;
	for (;;) {
		const m = re.exec(rest);
		if (!m)
			break;
		out.push(m[2]);
		rest = rest.slice(m[0].length);
	}
	return out;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'luci-check-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const views = walk(path.join(appDir, 'htdocs')).filter(f => f.endsWith('.js'));
const required = new Set();
const declared = []; // { object, method, file }
const uciConfigs = new Set(); // read (uci.load)
const formConfigs = new Set(); // read and written (form.Map)

check(views.length > 0, `${app}: has JavaScript files under htdocs/`);

for (const f of views) {
	const src = fs.readFileSync(f, 'utf8');
	const dirs = directives(src);
	const reqs = [];
	let bad = null;

	for (const d of dirs) {
		const m = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/.exec(d);
		if (m)
			reqs.push({ mod: m[1], as: m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_') });
		else if (!/^use[ \t]+strict$/.test(d))
			bad = d;
	}
	check(dirs[0] === 'use strict', `${rel(f)}: starts with 'use strict'`);
	check(bad === null, `${rel(f)}: only 'use strict' and 'require' directives at the top${bad ? ` (found '${bad}')` : ''}`);

	const unknown = reqs.filter(r => !modules.has(r.mod)).map(r => r.mod);
	check(unknown.length === 0, `${rel(f)}: requires only known LuCI modules (${reqs.map(r => r.mod).join(', ')})${unknown.length ? `; unknown: ${unknown.join(', ')}` : ''}`);
	reqs.forEach(r => required.add(r.mod));

	const wrapped = path.join(tmp, path.basename(f));
	fs.writeFileSync(wrapped, `(function(window, document, L${reqs.map(r => `, ${r.as}`).join('')}) { ${src}\n});\n`);
	let syntax = '';
	try {
		execFileSync(process.execPath, ['--check', wrapped], { stdio: 'pipe' });
	} catch (e) {
		syntax = String(e.stderr).split('\n').slice(0, 5).join(' | ');
	}
	check(syntax === '', `${rel(f)}: node --check (wrapped as luci.js loads it)${syntax ? `: ${syntax}` : ''}`);

	const nonLiteral = [...src.matchAll(/(?<![\w.$])N?_\(\s*([^'"\s)])/g)].map(m => m[0]);
	check(nonLiteral.length === 0, `${rel(f)}: _() takes string literals only${nonLiteral.length ? `: ${nonLiteral.join(' ')}` : ''}`);

	for (const m of src.matchAll(/rpc\.declare\(\{([\s\S]*?)\}\)/g)) {
		const obj = /object:\s*'([^']+)'/.exec(m[1]);
		const meth = /method:\s*'([^']+)'/.exec(m[1]);
		if (obj && meth)
			declared.push({ object: obj[1], method: meth[1], file: rel(f) });
	}
	for (const m of src.matchAll(/uci\.load\(\s*'([^']+)'/g))
		uciConfigs.add(m[1]);
	for (const m of src.matchAll(/new form\.Map\(\s*'([^']+)'/g))
		formConfigs.add(m[1]);
}

// JSON files
const jsons = walk(path.join(appDir, 'root')).filter(f => f.endsWith('.json'));
const parsed = new Map();
for (const f of jsons) {
	try {
		parsed.set(f, JSON.parse(fs.readFileSync(f, 'utf8')));
		ok(`${rel(f)}: valid JSON`);
	} catch (e) {
		fail(`${rel(f)}: valid JSON: ${e.message}`);
	}
}

const aclFiles = [...parsed.keys()].filter(f => f.includes('/usr/share/rpcd/acl.d/'));
const menuFiles = [...parsed.keys()].filter(f => f.includes('/usr/share/luci/menu.d/'));
check(aclFiles.length === 1, `${app}: one rpcd ACL file (root/usr/share/rpcd/acl.d/${app}.json)`);
check(menuFiles.length === 1, `${app}: one menu file (root/usr/share/luci/menu.d/${app}.json)`);

const groups = {};
for (const f of aclFiles)
	Object.assign(groups, parsed.get(f));

function granted(kind, scope, object, method) {
	for (const g of Object.values(groups)) {
		const kinds = kind === 'read' ? ['read', 'write'] : ['write'];
		for (const k of kinds) {
			const s = g?.[k]?.[scope];
			if (scope === 'uci' && Array.isArray(s) && s.includes(object))
				return true;
			if (scope === 'ubus' && s && Array.isArray(s[object]) && (s[object].includes(method) || s[object].includes('*')))
				return true;
		}
	}
	return false;
}

for (const f of menuFiles) {
	for (const [p, spec] of Object.entries(parsed.get(f))) {
		if (spec?.action?.type === 'view') {
			const view = path.join(appDir, 'htdocs/luci-static/resources/view', `${spec.action.path}.js`);
			check(fs.existsSync(view), `menu ${p}: view ${spec.action.path} exists`);
		}
		for (const g of spec?.depends?.acl || [])
			check(g in groups, `menu ${p}: ACL group ${g} is defined in acl.d`);
	}
}

// The ACL's write grants name the methods that change something.
const writeMethods = new Set();
for (const g of Object.values(groups))
	for (const [obj, meths] of Object.entries(g?.write?.ubus || {}))
		meths.forEach(m => writeMethods.add(`${obj}.${m}`));

for (const d of declared) {
	const kind = writeMethods.has(`${d.object}.${d.method}`) ? 'write' : 'read';
	check(granted(kind, 'ubus', d.object, d.method), `${d.file}: ubus ${d.object} ${d.method} is granted (${kind})`);
}
for (const c of uciConfigs)
	check(granted('read', 'uci', c), `uci config ${c} (uci.load) is readable through the ACL`);
for (const c of formConfigs)
	check(granted('write', 'uci', c), `uci config ${c} (form.Map) is writable through the ACL`);

// Makefile
const mk = fs.readFileSync(path.join(appDir, 'Makefile'), 'utf8');
const deps = (/^LUCI_DEPENDS:=(.*)$/m.exec(mk) || [])[1] || '';
const depList = deps.trim().split(/\s+/).map(s => s.replace(/^\+/, ''));
check(/^LUCI_TITLE:=\S/m.test(mk), 'Makefile: LUCI_TITLE');
check(/^LUCI_PKGARCH:=all$/m.test(mk), 'Makefile: LUCI_PKGARCH:=all');
check(/^include .*\$\(TOPDIR\)\/feeds\/luci\/luci\.mk/m.test(mk), 'Makefile: includes luci.mk from the LuCI feed ($(TOPDIR)/feeds/luci/luci.mk)');
for (const pkg of new Set([...required].map(m => modules.get(m)).filter(Boolean)))
	check(depList.includes(pkg), `Makefile: LUCI_DEPENDS has +${pkg} (for ${[...required].filter(m => modules.get(m) === pkg).join(', ')})`);

console.log(`${checks} checks, ${fails} failed`);
process.exit(fails ? 1 : 0);
