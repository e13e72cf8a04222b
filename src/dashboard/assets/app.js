// The dashboard's whole behaviour: plain browser JavaScript against the public API, no build step.
// Every text from the server is put in the page with textContent, never parsed as HTML: delivery
// payloads, receiver answers and error messages are other people's data.
'use strict';

const KEY_STORAGE = 'openrow.apiKey';
const $ = (id) => document.getElementById(id);

let apiKey = sessionStorage.getItem(KEY_STORAGE);
let mode = null;
let nextCursor = null;

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { 'x-api-key': apiKey };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the status says enough
  }
  if (!res.ok) throw new ApiFailure(res.status, (json && json.message) || `HTTP ${res.status}`);
  return json;
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

const when = (iso) => (iso ? `${iso.slice(0, 19).replace('T', ' ')} UTC` : '');

function say(message) {
  $('status').textContent = message;
  $('error').hidden = true;
}

function fail(err) {
  if (err instanceof ApiFailure && err.status === 401) return signOut(err.message);
  $('error').textContent = err instanceof Error ? err.message : String(err);
  $('error').hidden = false;
}

// Runs an action, reporting its failure in the page instead of losing it in the console.
function guarded(fn) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    try {
      await fn(event);
    } catch (err) {
      fail(err);
    }
  };
}

function showSignedIn(on) {
  $('sign-in').hidden = on;
  $('signed-in').hidden = !on;
  $('sign-out').hidden = !on;
  $('mode').hidden = !on;
}

function signOut(message) {
  apiKey = null;
  mode = null;
  sessionStorage.removeItem(KEY_STORAGE);
  $('delivery-rows').replaceChildren();
  $('secret').hidden = true;
  $('secret').textContent = '';
  showSignedIn(false);
  const hint = $('sign-in').querySelector('.hint');
  if (message) {
    $('sign-in-error')?.remove();
    hint.before(el('p', { id: 'sign-in-error', class: 'error', role: 'alert', text: message }));
  }
}

async function loadAccount() {
  const info = await api('GET', '/account/info');
  mode = info.mode;
  $('mode').textContent = mode === 'test' ? 'test mode' : 'live';
  $('mode').className = mode === 'test' ? 'badge test' : 'badge';
  $('credits').textContent = String(info.credits);
  $('balance-sub').textContent = String(info.balances.sub);
  $('balance-paygo').textContent = String(info.balances.paygo);
  $('balance-test').textContent = String(info.balances.test);

  const disabled = info.webhook_disabled;
  const failing = info.webhook_failing;
  const current = info.webhooks[0] || (disabled ? disabled.url : null);
  $('webhook-url').textContent = current ? current + (disabled ? ' (disabled)' : '') : 'none';
  const alert = $('webhook-alert');
  if (disabled) {
    alert.className = 'alert';
    alert.textContent =
      `Your global webhook URL ${disabled.url} was disabled on ${when(disabled.disabled_at)}: ${disabled.reason}. ` +
      'Nothing is sent to it until a URL is set again (the same one, once the receiver is fixed). ' +
      'Failed deliveries can then be sent again with Recover below.';
    alert.hidden = false;
  } else if (failing) {
    alert.className = 'alert warning';
    alert.textContent =
      `Deliveries to your global webhook URL ${failing.url} have been failing since ${when(failing.since)}. ` +
      `It will be disabled on ${when(failing.disabled_after)} unless a delivery succeeds before then.`;
    alert.hidden = false;
  } else {
    alert.hidden = true;
  }

  const live = mode !== 'test';
  for (const id of ['webhook-input', 'webhook-clear', 'secret-show', 'secret-rotate']) $(id).disabled = !live;
  $('webhook-form').querySelector('button[type=submit]').disabled = !live;
  $('webhook-test-note').hidden = live;
}

function deliveryQuery(cursor) {
  const q = new URLSearchParams({ limit: '25' });
  if ($('filter-status').value) q.set('status', $('filter-status').value);
  if ($('filter-event').value) q.set('event', $('filter-event').value);
  if ($('filter-search').value.trim()) q.set('search_id', $('filter-search').value.trim());
  if (cursor) q.set('cursor', cursor);
  return `/webhooks/deliveries?${q}`;
}

async function loadDeliveries(more = false) {
  const page = await api('GET', deliveryQuery(more ? nextCursor : null));
  const rows = $('delivery-rows');
  if (!more) rows.replaceChildren();
  for (const d of page.data) rows.append(deliveryRow(d));
  nextCursor = page.next_cursor;
  $('load-more').hidden = !nextCursor;
  $('deliveries-empty').hidden = rows.children.length > 0;
}

function lastResult(d) {
  if (d.status === 'pending' && d.next_attempt_at) {
    const prefix = d.last_error ? `${d.last_error}; ` : '';
    return `${prefix}next attempt ${when(d.next_attempt_at)}`;
  }
  if (d.last_error) return d.last_status_code ? `${d.last_status_code}: ${d.last_error}` : d.last_error;
  return d.last_status_code ? String(d.last_status_code) : '';
}

function deliveryRow(d) {
  const actions = el('td');
  const row = el(
    'tr',
    { 'data-delivery': d.id },
    el('td', { text: when(d.created_at) }),
    el('td', { text: d.event }),
    el('td', { class: 'search', text: d.search_id }),
    el('td', { class: 'url', text: d.url }),
    el('td', { class: `status-${d.status}`, text: d.status }),
    el('td', { text: String(d.attempts) }),
    el('td', { text: lastResult(d) }),
    actions,
  );
  actions.append(el('button', { type: 'button', text: 'Details', onclick: guarded(() => toggleDetails(row, d.id)) }));
  if (d.status === 'failed' || d.status === 'succeeded') {
    actions.append(' ', el('button', { type: 'button', text: 'Redeliver', onclick: guarded(() => redeliver(d.id)) }));
  }
  return row;
}

async function toggleDetails(row, id) {
  const open = row.nextElementSibling;
  if (open && open.classList.contains('details')) {
    open.remove();
    return;
  }
  const d = await api('GET', `/webhooks/deliveries/${encodeURIComponent(id)}`);
  const attempts = el('table', {}, el('thead', {}, el('tr', {}, ...['#', 'Started', 'Duration', 'Status', 'Error', 'Response body'].map((h) => el('th', { text: h })))));
  const body = el('tbody');
  for (const a of d.attempts) {
    body.append(
      el(
        'tr',
        {},
        el('td', { text: String(a.attempt) }),
        el('td', { text: when(a.started_at) }),
        el('td', { text: `${a.duration_ms} ms` }),
        el('td', { text: a.status_code === null ? '' : String(a.status_code) }),
        el('td', { text: a.error || '' }),
        el('td', {}, el('pre', { text: a.response_body || '' })),
      ),
    );
  }
  attempts.append(body);
  const cell = el(
    'td',
    { colspan: '8' },
    el('p', { text: `Delivery ${d.id}` }),
    el('h3', { text: 'Attempts' }),
    d.attempts.length ? attempts : el('p', { class: 'hint', text: 'Not attempted yet.' }),
    el('h3', { text: 'Payload' }),
    el('pre', { class: 'payload', text: d.payload || '' }),
  );
  row.after(el('tr', { class: 'details' }, cell));
}

async function redeliver(id) {
  await api('POST', `/webhooks/deliveries/${encodeURIComponent(id)}/retry`);
  say(`Delivery ${id} will be sent again.`);
  await loadDeliveries();
}

async function refreshAll() {
  await loadAccount();
  await loadDeliveries();
}

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener(
    'submit',
    guarded(async () => {
      apiKey = $('key').value.trim();
      $('sign-in-error')?.remove();
      try {
        await loadAccount();
      } catch (err) {
        return signOut(err.message);
      }
      sessionStorage.setItem(KEY_STORAGE, apiKey);
      $('key').value = '';
      showSignedIn(true);
      say('');
      await loadDeliveries();
    }),
  );
  $('sign-out').addEventListener('click', () => signOut());

  $('webhook-form').addEventListener(
    'submit',
    guarded(async () => {
      const url = $('webhook-input').value.trim();
      if (!url) throw new Error('Enter a URL, or use Clear to remove the global webhook.');
      await api('PUT', '/account/webhook', { url });
      $('webhook-input').value = '';
      say(`Global webhook set to ${url}.`);
      await loadAccount();
    }),
  );
  $('webhook-clear').addEventListener(
    'click',
    guarded(async () => {
      await api('PUT', '/account/webhook', { url: null });
      say('Global webhook cleared.');
      await loadAccount();
    }),
  );

  $('secret-show').addEventListener(
    'click',
    guarded(async () => {
      const { secret } = await api('GET', '/webhooks/secret');
      $('secret').textContent = secret;
      $('secret').hidden = false;
    }),
  );
  // Rotation takes a second click within 5 s: the old secret stops being the only one that signs.
  let rotateArmed = null;
  $('secret-rotate').addEventListener(
    'click',
    guarded(async () => {
      const button = $('secret-rotate');
      if (!rotateArmed) {
        button.textContent = 'Click again to rotate';
        rotateArmed = setTimeout(() => {
          rotateArmed = null;
          button.textContent = 'Rotate secret';
        }, 5000);
        return;
      }
      clearTimeout(rotateArmed);
      rotateArmed = null;
      button.textContent = 'Rotate secret';
      const r = await api('POST', '/webhooks/secret/rotate');
      $('secret').textContent = r.secret;
      $('secret').hidden = false;
      say(`Secret rotated. The previous one keeps signing until ${when(r.previous_secret_valid_until)}.`);
    }),
  );

  $('filter-form').addEventListener('submit', guarded(() => loadDeliveries()));
  $('load-more').addEventListener('click', guarded(() => loadDeliveries(true)));
  $('recover-form').addEventListener(
    'submit',
    guarded(async () => {
      const since = new Date($('recover-since').value);
      if (Number.isNaN(since.getTime())) throw new Error('Pick the time to recover from.');
      const r = await api('POST', '/webhooks/recover', { since: since.toISOString() });
      say(`${r.recovered} failed ${r.recovered === 1 ? 'delivery' : 'deliveries'} will be sent again.`);
      await loadDeliveries();
    }),
  );

  if (apiKey) {
    showSignedIn(true);
    guarded(refreshAll)();
  } else {
    showSignedIn(false);
  }
});
