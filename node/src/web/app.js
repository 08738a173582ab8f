/* Kith local web page: the browser side.
 *
 * Talks only to this node's local API on the page's own origin (session cookie
 * plus the X-Kith-CSRF header from <meta name="kith-csrf">), fills each section
 * of index.html, and stays live through the server-sent events of /v1/events.
 * Everything from the API is rendered with textContent: names, posts and
 * messages come from peers and must never be parsed as HTML.
 * Plain ES2020, no modules, no dependencies, no build step.
 */
'use strict';

(() => {
  const CSRF = document.querySelector('meta[name="kith-csrf"]')?.content ?? '';
  const FINAL_DELIVERY = new Set(['delivered', 'failed']);
  const DELIVERY_POLL_MS = 3000;
  const FEED_LIMIT = 100;
  const ARM_MS = 10000; // how long a "Confirm …" button stays armed

  const me = { account: '' };
  const names = new Map(); // account id → the name its owner chose
  const profileFields = new Map(); // own field name → {value, visibility}
  const deliveries = new Map(); // own post id → [{bridge, state, url, error, attempts}]
  const deliveryLists = new Map(); // own post id → its <ul> on the page
  const armed = new Map(); // "action:id" → time the armed state ends
  let feedPosts = null; // null until the feed was loaded once
  let peers = []; // from the last /v1/status

  // ---------- DOM helpers ----------

  const $ = (sel) => document.querySelector(sel);
  const byId = (id) => document.getElementById(id);

  /** Build an element; strings among the children become text nodes. */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (key === 'class') node.className = v;
      else if (key === 'data') Object.assign(node.dataset, v);
      else node.setAttribute(key, v === true ? '' : String(v));
    }
    for (const c of children.flat()) if (c != null && c !== false && c !== '') node.append(c);
    return node;
  }

  /** Which item a data-action button acts on (for confirm state and focus). */
  const keyOf = (action, d) => `${action}:${d.account ?? d.device ?? d.name ?? d.field ?? (d.platform ? `${d.platform}/${d.handle}` : '')}`;

  /** Replace a container's children, keeping keyboard focus on the same action. */
  function put(container, nodes) {
    const active = document.activeElement;
    const key = container.contains(active) && active.dataset?.action ? keyOf(active.dataset.action, active.dataset) : null;
    container.replaceChildren(...nodes);
    if (!key) return;
    const again = [...container.querySelectorAll('button[data-action]')].find((b) => keyOf(b.dataset.action, b.dataset) === key);
    if (again) again.focus();
  }

  function fill(list, items, render, empty) {
    put(list, items.length ? items.map(render) : [h('li', { class: 'empty' }, empty)]);
  }

  /** A button for event delegation; `confirm` makes it two-step (no confirm()). */
  function button(label, action, data, { kind = 'secondary', confirm, aria } = {}) {
    const isArmed = confirm && (armed.get(keyOf(action, data)) || 0) > Date.now();
    return h('button', {
      type: 'button',
      class: `btn small ${kind}${isArmed ? ' armed' : ''}`,
      'aria-label': isArmed ? null : aria,
      data: { action, ...data, ...(confirm ? { confirm, label } : {}) },
    }, isArmed ? confirm : label);
  }

  const badge = (text, kind = '') => h('span', { class: `badge ${kind}` }, text);
  const shortId = (id) => (id && id.length > 22 ? `${id.slice(0, 14)}…${id.slice(-6)}` : id || '');
  const clip = (text, n = 80) => (text.length > n ? `${text.slice(0, n)}…` : text);

  function displayName(account) {
    if (account === me.account) return 'You';
    return names.get(account) || shortId(account);
  }

  /** A <time> for unix seconds, shown in local date and time. */
  function when(secs) {
    const d = new Date(Number(secs) * 1000);
    if (!secs || !Number.isFinite(d.getTime())) return h('span', { class: 'muted' }, 'unknown time');
    return h('time', { datetime: d.toISOString() }, d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }));
  }

  /** A link only for http(s) URLs; anything else (javascript:, data:) stays text. */
  function safeLink(url, label) {
    try {
      const u = new URL(url);
      if (u.protocol === 'https:' || u.protocol === 'http:') {
        return h('a', { href: u.href, rel: 'noopener noreferrer', target: '_blank' }, label || url);
      }
    } catch { /* not a URL */ }
    return h('span', { class: 'mono' }, url);
  }

  const field = (form, name) => form.elements.namedItem(name);
  const value = (form, name) => (field(form, name)?.value ?? '').trim();

  // ---------- status messages ----------

  let toastTimer = 0;

  function say(message, kind = 'info') {
    const box = byId('toast');
    const text = byId('status');
    clearTimeout(toastTimer);
    if (text.textContent !== message || box.dataset.kind !== kind) {
      box.dataset.kind = kind;
      box.classList.remove('is-empty');
      text.textContent = message;
    }
    toastTimer = setTimeout(quiet, kind === 'error' ? 15000 : 6000);
  }

  function quiet() {
    byId('status').textContent = '';
    byId('toast').classList.add('is-empty');
  }

  function sayError(prefix, err) {
    // A lost session or daemon is said once, not once per section.
    if (err.status === 401 || err.code === 'network') say(`Kith: ${err.message}.`, 'error');
    else say(`${prefix}: ${err.message}`, 'error');
  }

  // ---------- the API ----------

  class ApiError extends Error {
    constructor(code, message, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  /** GET when body is undefined, else POST it as JSON. Throws ApiError. */
  async function api(path, body) {
    const init = {
      method: body === undefined ? 'GET' : 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', 'X-Kith-CSRF': CSRF },
    };
    if (body !== undefined) init.body = JSON.stringify(body);
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      throw new ApiError('network', 'could not reach the Kith daemon (is it still running?)', 0);
    }
    const data = await res.json().catch(() => null);
    if (res.ok) return data || {};
    if (res.status === 401) {
      throw new ApiError('unauthorized', 'this page is no longer logged in; run “kith open” in a terminal to log in again', 401);
    }
    const e = data?.error;
    throw new ApiError(e?.code || `http_${res.status}`, e?.message || `the daemon answered ${res.status} ${res.statusText}`, res.status);
  }

  const q = encodeURIComponent;

  /** Point a QR <img> at the server's SVG of `text`; resolves once it loaded. */
  function showQr(img, text) {
    const src = `/v1/qr?text=${q(text)}`;
    img.hidden = false;
    if (img.getAttribute('src') === src) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        img.removeEventListener('load', done);
        img.removeEventListener('error', done);
        resolve();
      };
      const timer = setTimeout(done, 5000);
      img.addEventListener('load', done);
      img.addEventListener('error', done);
      img.src = src;
    });
  }

  // ---------- sections: load and render ----------

  const REACH_HINT = {
    public: 'others can dial this node directly',
    private: 'behind a NAT or firewall; peers reach it through relays',
    unknown: 'still finding out',
  };

  async function loadOverview() {
    const s = await api('/v1/status');
    me.account = s.account;
    byId('account-id').textContent = s.account;
    showQr($('[data-testid="account-qr"]'), s.account);
    byId('device-id').textContent = s.device;
    const reach = s.reachability || 'unknown';
    const reachEl = byId('reachability');
    reachEl.textContent = reach;
    reachEl.className = `badge ${reach === 'public' ? 'ok' : reach === 'private' ? 'warn' : ''}`;
    byId('reach-hint').textContent = REACH_HINT[reach] || '';
    fill(byId('relay-list'), s.relays || [], (r) => h('li', { class: 'mono' }, r), 'none');
    byId('friends-online').textContent = String(s.friends_online ?? 0);
    peers = s.peers || [];
    renderPeers();
    renderDiagnostics(s);
  }

  const renderPeers = () => fill(byId('peer-list'), peers, renderPeer, 'No peers connected right now.');

  function renderPeer(p) {
    const title = !p.account ? 'Unknown account' : p.account === me.account ? 'Your other device' : displayName(p.account);
    return h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, title), badge(p.via || 'direct', p.via === 'relayed' ? 'warn' : '')),
        h('dl', { class: 'kv' },
          h('dt', {}, 'Account'), h('dd', { class: 'id' }, p.account || 'unknown'),
          h('dt', {}, 'Device'), h('dd', { class: 'id' }, p.device),
          h('dt', {}, 'Via'), h('dd', {}, p.via || 'direct'),
          p.addr ? [h('dt', {}, 'Address'), h('dd', { class: 'id' }, p.addr)] : null)));
  }

  function renderDiagnostics(s) {
    const rows = [
      ['Listening on', (s.listen || []).join('\n') || 'nothing'],
      ['Handshakes dropped', s.handshakes_dropped],
      ['Pulls denied', s.pulls_denied],
      ['Changes rejected', s.changes_rejected],
      ['Pulls served', s.pulls_served],
      ['Changes applied inline', s.changes_inline],
    ];
    put(byId('diagnostics'), rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, String(v ?? 0))]));
  }

  async function loadProfile() {
    const [p, l] = await Promise.all([api('/v1/profile'), api('/v1/links')]);
    profileFields.clear();
    const fields = Object.entries(p.fields || {}).sort(([a], [b]) => a.localeCompare(b));
    for (const [name, f] of fields) profileFields.set(name, f);
    fill(byId('profile-fields'), fields, renderField, 'No fields yet — start with your name below.');
    renderLinks(l.links || []);
  }

  function renderField([name, f]) {
    const friendsOnly = f.visibility === 'friends';
    return h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, name), badge(friendsOnly ? 'friends' : 'public', friendsOnly ? 'private' : '')),
        h('p', { class: 'value' }, f.value)),
      h('div', { class: 'actions' },
        button('Edit', 'edit-field', { field: name }, { aria: `Edit field ${name}` }),
        button('Remove', 'unset', { field: name }, { kind: 'danger', aria: `Remove field ${name}` })));
  }

  function renderLinks(links) {
    fill(byId('link-list'), links, (l) => h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, l.platform), h('span', { class: 'id' }, l.handle),
          badge(l.verified ? 'verified' : 'not verified', l.verified ? 'ok' : '')),
        h('p', { class: 'meta' }, 'Proof: ', l.proof ? safeLink(l.proof) : 'none given')),
      h('div', { class: 'actions' },
        button('Remove', 'unlink', { platform: l.platform, handle: l.handle }, { kind: 'danger', aria: `Remove link ${l.platform} ${l.handle}` }))),
    'No platform links yet.');
  }

  async function loadFriends() {
    const [f, r, s] = await Promise.all([api('/v1/friends'), api('/v1/friends/requests'), api('/v1/friends/suggestions')]);
    const friends = f.friends || [];
    const incoming = r.incoming || [];
    const outgoing = r.outgoing || [];
    const suggestions = s.suggestions || [];
    let renamed = false;
    for (const x of [...suggestions, ...incoming, ...outgoing, ...friends]) {
      if (x.name && names.get(x.account) !== x.name) {
        names.set(x.account, x.name);
        renamed = true;
      }
    }
    friends.sort((a, b) => (b.online - a.online) || (a.name || a.account).localeCompare(b.name || b.account));
    fill(byId('friend-list'), friends, renderFriend, 'No friends yet — invite someone.');
    renderRequests(incoming, outgoing);
    fill(byId('suggestion-list'), suggestions, renderSuggestion,
      'No suggestions right now. Importing your contacts (kith contacts import) helps find people you know.');
    if (renamed) {
      renderPeers();
      if (feedPosts) renderFeed();
    }
  }

  function renderFriend(f) {
    return h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, f.name || 'No name yet'),
          h('span', { class: `presence ${f.online ? 'on' : 'off'}` }, f.online ? 'online' : 'offline')),
        h('p', { class: 'id' }, f.account),
        h('p', { class: 'meta' }, 'Friends since ', when(f.since))),
      h('div', { class: 'actions' },
        button('Remove', 'remove', { account: f.account }, { kind: 'danger', aria: `Remove ${f.name || 'friend'}` }),
        button('Block', 'block', { account: f.account }, { kind: 'danger', confirm: 'Confirm block', aria: `Block ${f.name || 'friend'}` })));
  }

  function renderRequests(incoming, outgoing) {
    const box = byId('request-list');
    if (!incoming.length && !outgoing.length) {
      put(box, [h('p', { class: 'empty' }, 'No pending requests.')]);
      return;
    }
    const parts = [];
    if (incoming.length) {
      parts.push(h('h4', {}, 'Received'), h('ul', { class: 'list' }, incoming.map((r) => h('li', { class: 'item' },
        h('div', { class: 'item-main' },
          h('div', { class: 'item-title' }, h('strong', {}, r.name || 'No name given'), r.state && r.state !== 'pending' ? badge(r.state) : null),
          h('p', { class: 'id' }, r.account),
          r.message ? h('blockquote', { class: 'message' }, r.message) : null,
          h('p', { class: 'meta' }, when(r.at))),
        h('div', { class: 'actions' },
          button('Accept', 'accept', { account: r.account }, { kind: 'primary', aria: `Accept ${r.name || 'request'}` }),
          button('Decline', 'decline', { account: r.account }, { aria: `Decline ${r.name || 'request'}` }),
          button('Block', 'block', { account: r.account }, { kind: 'danger', confirm: 'Confirm block', aria: `Block ${r.name || 'sender'}` }))))));
    }
    if (outgoing.length) {
      parts.push(h('h4', {}, 'Sent'), h('ul', { class: 'list' }, outgoing.map((r) => h('li', { class: 'item' },
        h('div', { class: 'item-main' },
          h('div', { class: 'item-title' }, h('strong', {}, names.get(r.account) || r.name || 'Unknown name'), badge(r.state || 'requested', r.state === 'declined' ? 'warn' : '')),
          h('p', { class: 'id' }, r.account),
          r.error ? h('p', { class: 'error' }, r.error) : null,
          h('p', { class: 'meta' }, 'Sent ', when(r.at)))))));
    }
    put(box, parts);
  }

  function renderSuggestion(s) {
    return h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('strong', {}, s.name || shortId(s.account)),
        h('p', { class: 'meta' }, s.reason),
        h('p', { class: 'id' }, s.account)),
      h('div', { class: 'actions' },
        button('Add', 'suggest-add', { account: s.account }, { kind: 'primary', aria: `Add ${s.name || 'this person'}` })));
  }

  async function loadDevices() {
    const { devices = [] } = await api('/v1/devices');
    devices.sort((a, b) => (b.this - a.this) || (a.revoked - b.revoked) || (a.added_at - b.added_at));
    fill(byId('device-list'), devices, renderDevice, 'No devices.');
  }

  function renderDevice(d) {
    return h('li', { class: `item${d.revoked ? ' revoked' : ''}` },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, d.name || 'Unnamed device'),
          d.this ? badge('this device', 'ok') : null, d.revoked ? badge('revoked', 'bad') : null),
        h('p', { class: 'id' }, d.device),
        h('p', { class: 'meta' }, 'Added ', when(d.added_at))),
      !d.revoked && !d.this
        ? h('div', { class: 'actions' },
          button('Revoke', 'revoke', { device: d.device }, { kind: 'danger', confirm: 'Confirm revoke', aria: `Revoke ${d.name || 'device'}` }))
        : null);
  }

  async function loadRecovery() {
    const [{ requests = [] }, { friends = [] }, status] = await Promise.all([
      api('/v1/recovery/requests'), api('/v1/friends'),
      api('/v1/recovery/status').catch((err) => {
        if (err.code === 'recovery_not_set_up') return null;
        throw err;
      }),
    ]);
    fill(byId('recovery-requests'), requests, renderRecoveryRequest, 'No friend is asking.');
    const waiting = [...new Set(requests.filter((r) => !r.approved).map((r) => r.account))];
    put(byId('ra-account'), waiting.map((a) => h('option', { value: a }, displayName(a))));
    byId('recovery-approve-form').hidden = waiting.length === 0;
    byId('recovery-status').textContent = status
      ? `Any ${status.threshold} of these friends can give your account back:`
      : 'Not set up: if you lose every device, only your paper key (kith recovery words) or an export brings the account back.';
    put(byId('recovery-holders'), status ? status.friends.map(renderHolder) : []);
    const held = new Set(status ? status.friends.map((f) => f.account) : []);
    put(byId('recovery-friend-choices'), friends.map((f) => h('div', { class: 'check' },
      h('input', { type: 'checkbox', id: `rf-${f.account}`, name: 'friend', value: f.account, ...(held.has(f.account) ? { checked: '' } : {}) }),
      h('label', { for: `rf-${f.account}` }, f.name || shortId(f.account)))));
  }

  function renderRecoveryRequest(r) {
    return h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, displayName(r.account)),
          r.approved ? badge('approved', 'ok') : badge('waiting for your approval', 'warn')),
        h('p', { class: 'id' }, r.account),
        h('p', { class: 'meta' }, 'From a new device (', shortId(r.device), '), since ', when(r.at))));
  }

  function renderHolder(f) {
    const state = f.holds ? badge('holds a share', 'ok') : f.error ? badge(`refused (${f.error})`, 'bad') : badge('not reached yet', 'warn');
    return h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, displayName(f.account)), state),
        h('p', { class: 'id' }, f.account)));
  }

  async function loadFeed() {
    const [friends, own] = await Promise.all([
      api(`/v1/feed?all=true&limit=${FEED_LIMIT}`),
      api(`/v1/feed?limit=${FEED_LIMIT}`), // all=true lists friends' posts only
    ]);
    const seen = new Set();
    feedPosts = [...(friends.posts || []), ...(own.posts || [])]
      .filter((p) => !seen.has(`${p.account}/${p.post}`) && seen.add(`${p.account}/${p.post}`))
      .sort((a, b) => (b.at - a.at) || String(b.post).localeCompare(String(a.post)))
      .slice(0, FEED_LIMIT);
    const ownIds = feedPosts.filter((p) => p.account === me.account).map((p) => p.post);
    for (const id of deliveries.keys()) if (!ownIds.includes(id)) deliveries.delete(id);
    await Promise.all(ownIds.filter((id) => !isSettled(id)).map(loadDeliveries));
    renderFeed();
    scheduleDeliveryPoll();
  }

  const isSettled = (id) => deliveries.has(id) && deliveries.get(id).every((d) => FINAL_DELIVERY.has(d.state));

  async function loadDeliveries(id) {
    try {
      const r = await api(`/v1/posts/status?post=${q(id)}`);
      deliveries.set(id, r.deliveries || []);
    } catch (err) {
      if (err.status === 404) deliveries.set(id, []);
    }
  }

  function renderFeed() {
    deliveryLists.clear();
    fill(byId('feed-list'), feedPosts, renderPost, 'No posts yet. Write something above, or add friends to see theirs.');
  }

  function renderPost(p) {
    const own = p.account === me.account;
    const item = h('li', { class: `post${own ? ' own' : ''}` },
      h('div', { class: 'post-head' },
        h('strong', { class: 'author', title: p.account }, displayName(p.account)),
        p.visibility === 'friends' ? badge('friends', 'private') : badge('public'),
        h('span', { class: 'meta' }, when(p.at))),
      h('p', { class: 'post-text' }, p.text));
    if (own) {
      const list = h('ul', { class: 'deliveries', 'aria-label': 'Bridge deliveries' });
      deliveryLists.set(p.post, list);
      renderDeliveries(p.post);
      item.append(list);
    }
    return item;
  }

  const DELIVERY_KIND = { delivered: 'ok', failed: 'bad', retrying: 'warn', pending: '' };

  function renderDeliveries(id) {
    const list = deliveryLists.get(id);
    if (!list) return;
    put(list, (deliveries.get(id) || []).map((d) => h('li', { class: 'delivery', 'data-testid': 'delivery' },
      h('span', { class: 'bridge' }, d.bridge),
      badge(d.state, DELIVERY_KIND[d.state] ?? ''),
      d.url ? safeLink(d.url, 'view') : null,
      d.attempts > 1 ? h('span', { class: 'meta' }, `${d.attempts} attempts`) : null,
      d.error ? h('span', { class: 'error' }, d.error) : null)));
  }

  let pollTimer = 0;

  function scheduleDeliveryPoll() {
    clearTimeout(pollTimer);
    if ([...deliveries.keys()].some((id) => !isSettled(id))) pollTimer = setTimeout(pollDeliveries, DELIVERY_POLL_MS);
  }

  async function pollDeliveries() {
    const open = [...deliveries.keys()].filter((id) => !isSettled(id));
    await Promise.all(open.map(loadDeliveries));
    open.forEach(renderDeliveries);
    scheduleDeliveryPoll();
  }

  async function loadBridges() {
    const { bridges = [] } = await api('/v1/bridges');
    renderBridges(bridges);
  }

  function renderBridges(bridges) {
    fill(byId('bridge-list'), bridges, renderBridge, 'No bridges yet. Add one below to copy your public posts elsewhere.');
    renderBridgeChoices(bridges);
  }

  function renderBridge(b) {
    const state = b.state || 'unknown';
    const kind = state === 'running' ? 'ok' : /^(failed|restarting)/.test(state) ? 'bad' : '';
    const caps = b.capabilities || [];
    return h('li', { class: 'item' },
      h('div', { class: 'item-main' },
        h('div', { class: 'item-title' }, h('strong', {}, b.name), badge(state, kind)),
        h('p', { class: 'id' }, b.plugin),
        h('p', { class: 'meta' }, caps.length ? `Can: ${caps.join(', ')}` : 'No capabilities reported')),
      h('div', { class: 'actions' },
        button('Test', 'bridge-test', { name: b.name }, { aria: `Test bridge ${b.name}` }),
        button('Remove', 'bridge-remove', { name: b.name }, { kind: 'danger', aria: `Remove bridge ${b.name}` })));
  }

  /** One checkbox per bridge in the post form, keeping what the user ticked. */
  function renderBridgeChoices(bridges) {
    const box = byId('post-bridge-options');
    const before = new Map([...box.querySelectorAll('input')].map((i) => [i.value, i.checked]));
    const byDefault = byId('po-visibility').value === 'public';
    put(box, bridges.map((b, i) => h('div', { class: 'check' },
      h('input', { type: 'checkbox', name: 'bridge', value: b.name, id: `po-bridge-${i}`, checked: before.get(b.name) ?? byDefault }),
      h('label', { for: `po-bridge-${i}` }, b.name))));
    byId('post-bridges').hidden = !bridges.length;
    byId('post-bridge-hint').hidden = !bridges.length;
  }

  // ---------- refreshing ----------

  const LOADERS = {
    overview: loadOverview,
    profile: loadProfile,
    friends: loadFriends,
    devices: loadDevices,
    feed: loadFeed,
    bridges: loadBridges,
    recovery: loadRecovery,
  };
  const running = new Map(); // section → {again, done}

  /** Reload a section; a request while one runs reruns it once afterwards. */
  function run(section) {
    const current = running.get(section);
    if (current) {
      current.again = true;
      return current.done;
    }
    const entry = { again: false };
    entry.done = (async () => {
      do {
        entry.again = false;
        try {
          await LOADERS[section]();
        } catch (err) {
          sayError(`Could not load ${section}`, err);
        }
      } while (entry.again);
      running.delete(section);
    })();
    running.set(section, entry);
    return entry.done;
  }

  const refresh = (...sections) => Promise.all(sections.map(run));
  const refreshAll = () => run('overview').then(() => refresh('profile', 'friends', 'devices', 'bridges', 'feed', 'recovery'));

  // ---------- actions (event delegation on data-action buttons) ----------

  function friendAction(verb, done) {
    return async ({ account }) => {
      const who = clip(displayName(account));
      await api(`/v1/friends/${verb}`, { account });
      say(done(who));
      await refresh('friends', 'feed', 'overview');
    };
  }

  async function showTicket(prefix, ticket, expiresAt) {
    await showQr($(`[data-testid="${prefix}-ticket-qr"]`), ticket);
    byId(`${prefix}-ticket`).textContent = ticket;
    byId(`${prefix === 'friend' ? 'invite' : 'device'}-expires`).replaceChildren('Valid until ', when(expiresAt), '. Share it only with the intended person or device.');
    byId(`${prefix === 'friend' ? 'invite' : 'device'}-box`).hidden = false;
  }

  const ACTIONS = {
    async unset({ field: name }) {
      await api('/v1/profile/unset', { field: name });
      say(`Removed the field “${name}”.`);
      await run('profile');
    },
    'edit-field'({ field: name }) {
      const form = byId('profile-form');
      const f = profileFields.get(name) || {};
      field(form, 'field').value = name;
      field(form, 'value').value = f.value ?? '';
      field(form, 'visibility').value = f.visibility === 'friends' ? 'friends' : 'public';
      field(form, 'value').focus();
    },
    async unlink({ platform, handle }) {
      const r = await api('/v1/links/remove', { platform, handle });
      renderLinks(r.links || []);
      say(`Removed the ${platform} link.`);
    },
    async 'link-statement'(_, btn) {
      const form = btn.form;
      const platform = value(form, 'platform');
      const handle = value(form, 'handle');
      if (!platform || !handle) {
        say('Enter a platform and a handle first.', 'error');
        field(form, platform ? 'handle' : 'platform').focus();
        return;
      }
      const r = await api(`/v1/links/statement?platform=${q(platform)}&handle=${q(handle)}`);
      byId('statement-text').textContent = r.statement;
      byId('statement-box').hidden = false;
    },
    accept: friendAction('accept', (who) => `You and ${who} are now friends.`),
    decline: friendAction('decline', () => 'Request declined.'),
    remove: friendAction('remove', (who) => `${who} is no longer your friend.`),
    block: friendAction('block', (who) => `${who} is blocked.`),
    async 'suggest-add'({ account }) {
      const r = await api('/v1/friends/add', { target: account });
      say(r.state === 'friends' ? 'You are now friends.' : 'Friend request sent.');
      await refresh('friends', 'feed');
    },
    async invite() {
      const r = await api('/v1/friends/invite', {});
      await showTicket('friend', r.ticket, r.expires_at);
    },
    async 'device-link'() {
      const r = await api('/v1/devices/link', { admin: byId('link-admin').checked });
      byId('device-code-box').hidden = true;
      await showTicket('device', r.ticket, r.expires_at);
    },
    async revoke({ device }) {
      await api('/v1/devices/revoke', { device });
      say('Device revoked.');
      await refresh('devices', 'overview');
    },
    async 'bridge-test'({ name }) {
      const r = await api('/v1/bridges/test', { name });
      const b = (r.bridges || [])[0];
      say(`Bridge “${name}” is ${b?.state || 'running'}.`);
      await run('bridges');
    },
    async 'bridge-remove'({ name }) {
      const r = await api('/v1/bridges/remove', { name });
      renderBridges(r.bridges || []);
      say(`Removed the bridge “${name}”.`);
    },
    async copy({ copy }) {
      const el = byId(copy);
      try {
        await navigator.clipboard.writeText(el.textContent);
        say('Copied.');
      } catch {
        const range = document.createRange();
        range.selectNodeContents(el);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        say('Selected: press Ctrl+C (⌘C on a Mac) to copy.');
      }
    },
  };

  /** What failed, said before the daemon's own message; by data-action or form test id. */
  const FAILED = {
    unset: 'Could not remove the field', unlink: 'Could not remove the link', 'link-statement': 'Could not get the proof text',
    accept: 'Could not accept', decline: 'Could not decline', remove: 'Could not remove the friend', block: 'Could not block',
    'suggest-add': 'Could not send the request', invite: 'Could not create an invite', 'device-link': 'Could not create a pairing ticket',
    revoke: 'Could not revoke the device', 'bridge-test': 'Bridge test failed', 'bridge-remove': 'Could not remove the bridge',
    'profile-form': 'Could not save the field', 'link-form': 'Could not add the link', 'friend-add-form': 'Could not add the friend',
    'post-form': 'Could not post', 'bridge-form': 'Could not add the bridge',
    'recovery-approve-form': 'Could not approve', 'recovery-setup-form': 'Could not give out shares',
  };

  /** Two-step buttons: the first click arms ("Confirm …"), the second acts. */
  function armedNow(btn) {
    const d = btn.dataset;
    const key = keyOf(d.action, d);
    if ((armed.get(key) || 0) > Date.now()) {
      armed.delete(key);
      return true;
    }
    armed.set(key, Date.now() + ARM_MS);
    btn.textContent = d.confirm;
    btn.classList.add('armed');
    btn.removeAttribute('aria-label');
    setTimeout(() => {
      if ((armed.get(key) || 0) > Date.now()) return;
      armed.delete(key);
      document.querySelectorAll('button.armed[data-confirm]').forEach((b) => {
        if (keyOf(b.dataset.action, b.dataset) === key) {
          b.textContent = b.dataset.label;
          b.classList.remove('armed');
        }
      });
    }, ARM_MS + 50);
    return false;
  }

  const busy = new WeakSet();

  document.addEventListener('click', async (ev) => {
    const btn = ev.target.closest('button[data-action]');
    const act = btn && ACTIONS[btn.dataset.action];
    if (!act || busy.has(btn)) return;
    if (btn.dataset.confirm && !armedNow(btn)) return;
    busy.add(btn);
    btn.setAttribute('aria-busy', 'true');
    try {
      await act({ ...btn.dataset }, btn);
    } catch (err) {
      sayError(FAILED[btn.dataset.action] || 'That did not work', err);
    } finally {
      busy.delete(btn);
      btn.removeAttribute('aria-busy');
    }
  });

  // ---------- forms ----------

  /** KEY=VALUE per line; blank lines and # comments are skipped. */
  function parseSettings(text) {
    const entries = [];
    text.split(/\r?\n/).forEach((line, i) => {
      const t = line.trim();
      if (!t || t.startsWith('#')) return;
      const eq = t.indexOf('=');
      if (eq <= 0) throw new Error(`line ${i + 1} of the settings is not KEY=VALUE`);
      entries.push([t.slice(0, eq).trim(), t.slice(eq + 1).trim()]);
    });
    return Object.fromEntries(entries);
  }

  const FORMS = {
    async 'profile-form'(form) {
      const name = value(form, 'field');
      const visibility = field(form, 'visibility').value;
      await api('/v1/profile/set', { field: name, value: value(form, 'value'), visibility });
      field(form, 'field').value = '';
      field(form, 'value').value = '';
      say(`Saved “${name}” (${visibility === 'friends' ? 'friends only' : 'public'}).`);
      await run('profile');
    },
    async 'link-form'(form) {
      const body = { platform: value(form, 'platform'), handle: value(form, 'handle') };
      const proof = value(form, 'proof');
      if (proof) body.proof = proof;
      const r = await api('/v1/links/add', body);
      form.reset();
      byId('statement-box').hidden = true;
      renderLinks(r.links || []);
      say(`Added the ${body.platform} link.`);
    },
    async 'friend-add-form'(form) {
      const body = { target: value(form, 'target') };
      const message = value(form, 'message');
      if (message) body.message = message;
      const r = await api('/v1/friends/add', body);
      form.reset();
      say(r.state === 'friends' ? 'You are now friends.' : 'Friend request sent. You will be friends once they accept.');
      await refresh('friends', 'feed');
    },
    async 'post-form'(form) {
      const text = field(form, 'text').value;
      if (!text.trim()) throw new Error('write something first');
      const body = { text, visibility: field(form, 'visibility').value };
      const boxes = [...form.querySelectorAll('input[name="bridge"]')];
      if (boxes.length) body.bridges = boxes.filter((b) => b.checked).map((b) => b.value);
      await api('/v1/posts', body);
      field(form, 'text').value = '';
      say('Posted.');
      await run('feed');
    },
    async 'recovery-approve-form'(form) {
      const account = field(form, 'account').value;
      await api('/v1/recovery/approve', { account, code: value(form, 'code') });
      field(form, 'code').value = '';
      say(`Released your share to ${clip(displayName(account))}'s new device.`);
      await run('recovery');
    },
    async 'recovery-setup-form'(form) {
      const friends = [...form.querySelectorAll('input[name="friend"]')].filter((b) => b.checked).map((b) => b.value);
      const threshold = Number(field(form, 'threshold').value);
      const r = await api('/v1/recovery/setup', { friends, threshold });
      say(`Gave ${r.friends.length} friends a share; any ${r.threshold} can recover your account.`);
      await run('recovery');
    },
    async 'bridge-form'(form) {
      const body = { name: value(form, 'name'), plugin: value(form, 'plugin'), settings: parseSettings(field(form, 'settings').value) };
      const r = await api('/v1/bridges/add', body);
      form.reset();
      renderBridges(r.bridges || []);
      say(`Added the bridge “${body.name}”.`);
    },
  };

  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    const handler = FORMS[form.dataset.testid];
    if (!handler) return;
    ev.preventDefault();
    if (busy.has(form)) return;
    busy.add(form);
    form.setAttribute('aria-busy', 'true');
    try {
      await handler(form);
    } catch (err) {
      sayError(FAILED[form.dataset.testid], err);
    } finally {
      busy.delete(form);
      form.removeAttribute('aria-busy');
    }
  });

  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !byId('toast').classList.contains('is-empty')) {
      clearTimeout(toastTimer);
      quiet();
    }
  });

  // Public posts go to every bridge by default, friends-only posts to none.
  byId('po-visibility').addEventListener('change', (ev) => {
    const pub = ev.target.value === 'public';
    byId('post-bridge-options').querySelectorAll('input').forEach((i) => { i.checked = pub; });
  });

  // ---------- live updates ----------

  function onDocUpdated(e) {
    const sections = new Set(['feed']);
    const mine = e.owner === me.account;
    if (e.doc === 'profile' || e.doc === 'profile-private') sections.add(mine ? 'profile' : 'friends');
    if (e.doc === 'friends' && mine) sections.add('friends');
    if (e.doc === 'identity' && mine) sections.add('devices');
    refresh(...sections);
  }

  function onDeviceLinked(e) {
    if (e.code) {
      byId('device-box').hidden = true;
      byId('device-code-name').textContent = e.name || shortId(e.device);
      byId('device-code').textContent = e.code;
      byId('device-code-box').hidden = false;
      say('A new device was linked: compare its confirmation code.');
    }
    refresh('devices', 'overview');
  }

  const EVENTS = {
    peer_connected: () => refresh('overview', 'friends'),
    peer_disconnected: () => refresh('overview', 'friends'),
    peer_rejected: () => refresh('overview'),
    friend_request_received: (e) => {
      say(`${clip(e.name || 'Someone')} would like to be friends.`);
      refresh('friends');
    },
    friend_added: (e) => {
      say(`You and ${clip(e.name || shortId(e.account))} are now friends.`);
      refresh('friends', 'feed', 'overview');
    },
    friend_request_declined: () => refresh('friends'),
    friend_removed: () => refresh('friends', 'feed', 'recovery'),
    recovery_share_held: () => run('recovery'),
    recovery_requested: (e) => {
      say(`${clip(displayName(e.account))} asks for your help to recover their account. Call them for the code.`);
      run('recovery');
    },
    suggestion_found: () => refresh('friends'),
    device_linked: onDeviceLinked,
    device_revoked: () => refresh('devices', 'overview'),
    link_checked: (e) => { if (e.owner === me.account) run('profile'); },
    doc_updated: onDocUpdated,
    lagged: refreshAll,
  };

  let source = null;
  let opened = false;
  let retryMs = 2000;

  function setLive(state, text) {
    const el = byId('live');
    el.dataset.state = state;
    el.textContent = text;
  }

  function listen() {
    source = new EventSource('/v1/events');
    source.addEventListener('open', () => {
      setLive('live', 'Live');
      retryMs = 2000;
      // Events between the first load and this moment (or while away)
      // were missed: load everything again.
      if (opened) refreshAll();
      else refresh('friends', 'recovery');
      opened = true;
    });
    source.addEventListener('error', () => {
      setLive('offline', 'Reconnecting…');
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      source.close();
      setTimeout(() => { run('overview'); listen(); }, retryMs);
      retryMs = Math.min(retryMs * 2, 60000);
    });
    for (const [name, handle] of Object.entries(EVENTS)) {
      source.addEventListener(name, (m) => {
        let data = {};
        try { data = JSON.parse(m.data); } catch { /* lagged carries a bare number */ }
        handle(data && typeof data === 'object' ? data : {});
      });
    }
  }

  // ---------- start ----------

  refreshAll();
  listen();
})();
