{%
// Stand-in for LuCI's server side, for the browser test (luci-browser.sh).
//
// uhttpd runs it as a ucode handler (-o /cgi-bin/luci -O server.uc) next to
// its /ubus JSON-RPC endpoint (-u /ubus), inside owrt-ns with real ubusd,
// rpcd and procd. It does what LuCI's dispatcher does for the pages under
// test, with the same inputs and outputs, so that luci-base's JavaScript
// runs unchanged:
//
// - the page tree from /usr/share/luci/menu.d/*.json (luci-base's and the
//   app's), with "fs", "uci" and "acl" dependencies, "firstchild" nodes and
//   the auth methods of the nodes ("cookie:sysauth_http", "param:sid");
// - logging in with luci_username/luci_password through rpcd's "session
//   login", the session id in the sysauth_http cookie;
// - "view" pages: the theme's page frame, luci.js and `L = new LuCI({...})`
//   with the environment header.ut gives it (sessionid, token, ubuspath,
//   resource and media paths, nodespec, apply timings), then
//   ui.instantiateView(<path>);
// - the luci-base functions the views reach: admin/menu (the page tree as
//   JSON, filtered by the session's ACL groups), admin/translations (none:
//   English), admin/logout, and admin/uci/{apply_rollback, apply_unchecked,
//   confirm, revert}, which call rpcd's "uci apply/confirm/revert" exactly as
//   LuCI's controller does (rpcd then commits and sends config.change).
//
// It is written for the test; it is not LuCI's code. uhttpd compiles
// handlers as templates, hence the {% %} around the whole file.
'use strict';

import { readfile, glob, stat, open } from 'fs';
import { connect } from 'ubus';
import { cursor } from 'uci';

const SCRIPT = '/cgi-bin/luci';
const RESOURCE = '/luci-static/resources';
const MEDIA = '/luci-static/bootstrap';
const NULL_SID = '00000000000000000000000000000000';

let req, bus, form;

function send(status, headers, body) {
	uhttpd.send(`Status: ${status}\r\n`);
	for (let k, v in headers)
		uhttpd.send(`${k}: ${v}\r\n`);
	uhttpd.send('\r\n');
	if (body != null)
		uhttpd.send(body);
}

function html_escape(s) {
	return replace(`${s}`, /[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function url(...segs) {
	return join('/', [ SCRIPT, ...segs ]);
}

function parse_urlencoded(s, into) {
	for (let pair in split(s ?? '', '&')) {
		if (pair == '')
			continue;
		let kv = split(pair, '=', 2);
		into[uhttpd.urldecode(replace(kv[0], '+', ' '))] = uhttpd.urldecode(replace(kv[1] ?? '', '+', ' '));
	}
	return into;
}

function read_form() {
	let f = parse_urlencoded(req.QUERY_STRING, {});
	let len = +(req.CONTENT_LENGTH ?? 0);
	if (req.REQUEST_METHOD == 'POST' && len > 0 &&
	    index(req.CONTENT_TYPE ?? '', 'application/x-www-form-urlencoded') == 0)
		parse_urlencoded(uhttpd.recv(len), f);
	return f;
}

function cookie(name) {
	for (let c in split(req.HTTP_COOKIE ?? req.headers?.cookie ?? '', /;\s*/)) {
		let kv = split(c, '=', 2);
		if (kv[0] == name)
			return kv[1];
	}
	return null;
}

function randomid(n) {
	let f = open('/dev/urandom');
	let b = f.read(n);
	f.close();
	return join('', map(split(b, ''), (c) => sprintf('%02x', ord(c))));
}

// ---- sessions ---------------------------------------------------------------

function session_retrieve(sid) {
	let data = bus.call('session', 'get', { ubus_rpc_session: sid });
	if (type(data?.values?.token) != 'string')
		return null;
	let acls = bus.call('session', 'access', { ubus_rpc_session: sid });
	return { sid, token: data.values.token, user: data.values.username, acls: acls ?? {} };
}

function authenticate(auth) {
	for (let m in auth?.methods) {
		let kv = match(m, /^([a-z]+):(.+)$/);
		let sid = null;
		switch (kv?.[1]) {
		case 'cookie': sid = cookie(kv[2]); break;
		case 'param':
		case 'query': sid = form[kv[2]]; break;
		}
		let s = sid ? session_retrieve(sid) : null;
		if (s)
			return s;
	}
	return null;
}

function login(user, pass) {
	let r = bus.call('session', 'login', { username: user, password: pass });
	if (type(r?.ubus_rpc_session) != 'string')
		return null;
	bus.call('session', 'set', { ubus_rpc_session: r.ubus_rpc_session, values: { token: randomid(16) } });
	return session_retrieve(r.ubus_rpc_session);
}

// ---- the page tree ------------------------------------------------------------

function check_fs(spec) {
	for (let path, kind in spec) {
		let st = stat(path);
		if (!st)
			return false;
		if (kind == 'executable' && (st.type != 'file' || !(st.perm?.user_exec)))
			return false;
		if (kind == 'directory' && st.type != 'directory')
			return false;
		if (kind == 'file' && st.type != 'file')
			return false;
	}
	return true;
}

function check_uci(spec) {
	let c = cursor();
	for (let config, want in spec) {
		let all = c.get_all(config);
		if (!all)
			return false;
		if (type(want) == 'object')
			for (let section, v in want)
				if (!all[section])
					return false;
	}
	return true;
}

function check_depends(spec) {
	for (let key, check in { fs: check_fs, uci: check_uci }) {
		let d = spec?.depends?.[key];
		if (type(d) == 'object')
			d = [ d ];
		if (type(d) == 'array') {
			let ok = false;
			for (let alt in d)
				if (check(alt)) { ok = true; break; }
			if (!ok)
				return false;
		}
	}
	return true;
}

// true: read-write, false: read-only, null: no access.
function acl_access(groups, session) {
	let writable = false;
	for (let g in groups) {
		let perms = session?.acls?.['access-group']?.[g];
		let r = ('read' in (perms ?? [])), w = ('write' in (perms ?? []));
		if (!r && !w)
			return null;
		if (w)
			writable = true;
	}
	return length(groups) ? writable : true;
}

function build_tree() {
	let tree = { action: { type: 'firstchild' }, satisfied: true };
	for (let file in glob('/usr/share/luci/menu.d/*.json')) {
		let data = json(readfile(file) ?? '{}');
		for (let path, spec in data) {
			if (type(spec) != 'object')
				continue;
			let node = tree, wildcard = false;
			for (let seg in split(path, '/')) {
				if (substr(seg, 0, 1) == '*') {
					node.wildcard = wildcard = true;
					break;
				}
				node.children ??= {};
				node.children[seg] ??= { satisfied: true };
				node = node.children[seg];
			}
			for (let k in [ 'title', 'order', 'auth', 'depends', 'cors', 'firstchild_ineligible' ])
				if (k in spec)
					node[k] = spec[k];
			if (type(spec.action) == 'object')
				node[wildcard ? 'wildcardaction' : 'action'] = spec.action;
			node.satisfied = check_depends(spec);
		}
	}
	return tree;
}

function apply_acls(node, session) {
	for (let name, child in node.children)
		apply_acls(child, session);
	if (node.depends?.acl) {
		let a = acl_access(node.depends.acl, session);
		if (a == null)
			node.satisfied = false;
		else if (a == false)
			node.readonly = true;
	}
	return node;
}

// The child a "firstchild" node shows: the lowest order among the
// satisfied, titled children with an action the session may see.
function first_child(node, session, prefix) {
	let best = null, best_path = null;
	for (let name, child in node.children) {
		if (!child.satisfied || !child.title || type(child.action) != 'object' || child.firstchild_ineligible)
			continue;
		if (session && acl_access(child.depends?.acl ?? [], session) == null)
			continue;
		let p = [ ...prefix, name ];
		if (child.action.type == 'firstchild') {
			let sub = first_child(child, session, p);
			if (!sub)
				continue;
			p = sub.path;
		}
		if (!best || (child.order ?? 9999) < (best.order ?? 9999)) {
			best = child;
			best_path = p;
		}
	}
	return best ? { node: best, path: best_path } : null;
}

// ---- pages ------------------------------------------------------------------

function page_head(title, scripts) {
	return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${html_escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${MEDIA}/cascade.css">
${scripts ? `<script src="${RESOURCE}/cbi.js"></script>` : ''}
</head>
`;
}

function render_login(path, failed) {
	send('403 Forbidden', { 'Content-Type': 'text/html; charset=UTF-8', 'X-LuCI-Login-Required': 'yes' },
		page_head('Login') + `<body class="lang_en">
<header><a class="brand" href="/">knockd-go test router</a></header>
<div id="maincontent" class="container">
<form method="post" action="${html_escape(url(...path))}">
<div class="cbi-map">
<h2 name="content">Authorization Required</h2>
<div class="cbi-map-descr">Please enter your username and password.</div>
${failed ? '<div class="alert-message error">Invalid username and/or password! Please try again.</div>' : ''}
<div class="cbi-section"><div class="cbi-section-node">
<div class="cbi-value"><label class="cbi-value-title" for="luci_username">Username</label>
<div class="cbi-value-field"><input class="cbi-input-text" type="text" name="luci_username" id="luci_username" autocomplete="username"></div></div>
<div class="cbi-value cbi-value-last"><label class="cbi-value-title" for="luci_password">Password</label>
<div class="cbi-value-field"><input class="cbi-input-text" type="password" name="luci_password" id="luci_password" autocomplete="current-password"></div></div>
</div></div></div>
<div class="cbi-page-actions"><button class="btn cbi-button cbi-button-positive important" type="submit">Log in</button></div>
</form>
</div>
</body>
</html>
`);
}

function render_view(view, node, path, session) {
	let apply = cursor().get_all('luci', 'apply') ?? {};
	let env = {
		media: MEDIA,
		resource: RESOURCE,
		scriptname: SCRIPT,
		pathinfo: req.PATH_INFO,
		documentroot: req.DOCUMENT_ROOT,
		requestpath: path,
		dispatchpath: path,
		pollinterval: 5,
		ubuspath: '/ubus/',
		sessionid: session.sid,
		token: session.token,
		nodespec: node,
		apply_rollback: max(+apply.rollback || 90, 90),
		apply_holdoff: max(+apply.holdoff || 4, 1),
		apply_timeout: max(+apply.timeout || 5, 1),
		apply_display: max(+apply.display || 1.5, 1),
		rollback_token: null
	};
	let title = node.title ?? view;

	send('200 OK', { 'Content-Type': 'text/html; charset=UTF-8', 'Cache-Control': 'no-cache' },
		page_head(`knockd-go test router | ${title}`, true) + `<body class="lang_en ${html_escape(title)}" data-page="${html_escape(join('-', path))}">
<header>
<a class="brand" href="/">knockd-go test router</a>
<ul class="nav" id="topmenu" style="display:none"></ul>
<div id="indicators" class="pull-right"></div>
</header>
<div id="maincontent" class="container">
<div id="tabmenu" style="display:none"></div>
<script src="${RESOURCE}/luci.js"></script>
<script>
L = new LuCI(${replace(sprintf('%J', env), '/', '\\/')});
</script>
<div id="view">
<div class="spinning">Loading view…</div>
<script>
L.require('ui').then(function(ui) { ui.instantiateView(${sprintf('%J', view)}); });
</script>
</div>
</div>
<footer>
<span>Test stand-in for LuCI's server side (knockd-go)</span>
<ul class="breadcrumb pull-right" id="modemenu" style="display:none"></ul>
</footer>
<script>L.require('menu-bootstrap')</script>
</body>
</html>
`);
}

// ---- functions of luci-base's menu.d ----------------------------------------

// LuCI's mapping of a failed ubus call's status code to HTTP.
function ubus_status_to_http(err) {
	const status = [
		'200 OK', '400 Invalid command', '400 Invalid argument', '404 Method not found',
		'404 Not found', '204 No data', '403 Permission denied', '504 Timeout',
		'500 Not supported', '500 Unknown error', '503 Connection failed'
	];
	let st = status[err] ?? '500 Error';
	send(st, { 'Content-Type': 'text/plain' }, substr(st, 0, 3) == '204' ? null : substr(st, 4));
}

const functions = {
	'luci.controller.admin.index.action_menu': (session) => {
		let s = authenticate({ methods: [ 'cookie:sysauth_https', 'cookie:sysauth_http' ] });
		send('200 OK', { 'Content-Type': 'application/json; charset=UTF-8' },
			sprintf('%J', apply_acls(build_tree(), s)));
	},

	'luci.controller.admin.index.action_translations': () => {
		send('200 OK', { 'Content-Type': 'application/javascript; charset=UTF-8' }, 'window.TR={};');
	},

	'luci.controller.admin.index.action_logout': (session) => {
		if (session)
			bus.call('session', 'destroy', { ubus_rpc_session: session.sid });
		send('302 Found', { 'Location': url(), 'Set-Cookie': `sysauth_http=; expires=Thu, 01 Jan 1970 01:00:00 GMT; path=${url()}` });
	},

	// uci apply with rollback: rpcd commits the session's changes, sends
	// config.change for each package and rolls back unless confirmed.
	'luci.controller.admin.uci.action_apply_rollback': (session) => {
		bus.error();
		bus.call('uci', 'apply', { ubus_rpc_session: session.sid, timeout: 90, rollback: true });
		let err = bus.error(true);
		if (err)
			return ubus_status_to_http(err);
		let token = randomid(16);
		bus.call('session', 'set', {
			ubus_rpc_session: NULL_SID,
			values: { rollback: { token, session: session.sid, timeout: time() + 90 } }
		});
		send('200 OK', { 'Content-Type': 'application/json; charset=UTF-8' }, sprintf('%J', { token }));
	},

	'luci.controller.admin.uci.action_apply_unchecked': (session) => {
		let changes = bus.call('uci', 'changes', { ubus_rpc_session: session.sid })?.changes;
		for (let config in changes)
			bus.call('uci', 'commit', { ubus_rpc_session: session.sid, config });
		bus.error();
		bus.call('uci', 'apply', { ubus_rpc_session: session.sid, rollback: false });
		let err = bus.error(true);
		if (err)
			return ubus_status_to_http(err);
		send('204 No Content', {}, null);
	},

	'luci.controller.admin.uci.action_confirm': () => {
		let rb = bus.call('session', 'get', { ubus_rpc_session: NULL_SID, keys: [ 'rollback' ] })?.values?.rollback;
		if (type(rb?.token) != 'string' || rb.timeout < time())
			return send('204 No data', {}, null);
		if (form.token != rb.token)
			return send('403 Permission denied', { 'Content-Type': 'text/plain' }, 'Permission denied');
		bus.error();
		bus.call('uci', 'confirm', { ubus_rpc_session: rb.session });
		let err = bus.error(true);
		if (err)
			return ubus_status_to_http(err);
		bus.call('session', 'set', { ubus_rpc_session: NULL_SID, values: { rollback: {} } });
		send('200 OK', { 'Content-Type': 'text/plain' }, 'OK');
	},

	'luci.controller.admin.uci.action_revert': (session) => {
		for (let config in bus.call('uci', 'changes', { ubus_rpc_session: session.sid })?.changes)
			bus.call('uci', 'revert', { ubus_rpc_session: session.sid, config });
		send('200 OK', { 'Content-Type': 'text/plain' }, 'OK');
	}
};

// ---- dispatch ---------------------------------------------------------------

function dispatch() {
	let path = filter(split(req.PATH_INFO ?? '', '/'), (s) => s != '');
	let tree = build_tree();
	let node = tree, auth = null, acls = [], walked = [], args = [];

	for (let i = 0; i < length(path); i++) {
		let child = node.children?.[path[i]];
		if (child?.satisfied) {
			node = child;
			push(walked, path[i]);
			if (node.auth)
				auth = node.auth;
			push(acls, ...(node.depends?.acl ?? []));
			continue;
		}
		if (node.wildcard) {
			args = slice(path, i);
			break;
		}
		return send('404 Not Found', { 'Content-Type': 'text/plain' }, `No page is registered at /${join('/', path)}\n`);
	}

	let session = null;
	if (length(auth?.methods)) {
		session = authenticate(auth);
		if (!session && auth.login) {
			if (form.luci_username != null && form.luci_password != null) {
				session = login(form.luci_username, form.luci_password);
				if (session)
					return send('302 Found', {
						'Location': url(...path),
						'Set-Cookie': `sysauth_http=${session.sid}; path=${url()}; SameSite=strict; HttpOnly`
					});
			}
			return render_login(path, form.luci_username != null);
		}
		if (!session)
			return send('403 Forbidden', { 'X-LuCI-Login-Required': 'yes', 'Content-Type': 'text/plain' }, 'Forbidden');
	}

	let action = (length(args) && node.wildcardaction) ? node.wildcardaction : node.action;

	if (action?.type == 'firstchild') {
		let fc = first_child(node, session, walked);
		if (!fc)
			return send('404 Not Found', { 'Content-Type': 'text/plain' }, 'No page below this node\n');
		return send('302 Found', { 'Location': url(...fc.path) });
	}

	if (length(acls)) {
		let a = acl_access(acls, session);
		if (a == null)
			return send('403 Forbidden', { 'Content-Type': 'text/plain' }, 'Forbidden');
		node.readonly = !a;
	}

	if (action?.post && form.token != session?.token)
		return send('403 Forbidden', { 'Content-Type': 'text/plain' }, 'Invalid token');

	switch (action?.type) {
	case 'view':
		return render_view(action.path, node, walked, session);
	case 'alias':
		return send('302 Found', { 'Location': url(...split(action.path, '/')) });
	case 'function':
		let fn = functions[`${action.module}.${action.function}`];
		if (fn)
			return fn(session, ...args);
		return send('501 Not Implemented', { 'Content-Type': 'text/plain' }, `${action.module}.${action.function} is not in the test stand-in\n`);
	}

	send('404 Not Found', { 'Content-Type': 'text/plain' }, `No action at /${join('/', path)}\n`);
}

global.handle_request = function(env) {
	req = env;
	bus = connect();
	form = read_form();
	try {
		dispatch();
	}
	catch (e) {
		send('500 Internal Server Error', { 'Content-Type': 'text/plain' }, `${e}\n${e.stacktrace?.[0]?.context ?? ''}\n`);
	}
	bus.disconnect();
};
%}
