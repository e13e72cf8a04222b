// The dashboard's whole behaviour: plain browser JavaScript against the public API, no build step.
// Every text from the server is put in the page with textContent, never parsed as HTML: delivery
// payloads, receiver answers and error messages are other people's data.
'use strict';

const KEY_STORAGE = 'openrow.apiKey';
const $ = (id) => document.getElementById(id);

// controls of the live settings: disabled until a live key's account is loaded
const LIVE_ONLY = ['webhook-input', 'webhook-save', 'webhook-clear', 'secret-show', 'secret-rotate'];

let apiKey = sessionStorage.getItem(KEY_STORAGE);
let mode = null;
// bumped by sign-out: an answer to a request of the session before is dropped
let session = 0;
// the delivery list as loaded: the query its first page was asked with, and where its next page starts
let listQuery = null;
let nextCursor = null;
// bumped by every list load: only the latest one's answer is shown
let listGeneration = 0;

/** The answer belongs to a session that has ended (signed out meanwhile): nothing is shown. */
class SignedOut extends Error {}

class ApiFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// crypto.randomUUID exists in secure contexts only: the page may be served over plain HTTP on a LAN
function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// POSTs carry an Idempotency-Key of their own: a request the browser repeats (a flaky connection) is
// answered once and acts once.
async function api(method, path, body) {
  const started = session;
  const headers = { 'x-api-key': apiKey };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method === 'POST') headers['idempotency-key'] = `dashboard-${randomHex(16)}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    // the browser's own words ("Failed to fetch") say nothing about what to do
    throw new Error(`The Openrow server could not be reached (${err instanceof Error ? err.message : String(err)}). Check that it is running, then try again.`);
  }
  const text = await res.text();
  if (started !== session) throw new SignedOut();
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

// times are shown, and read (Recover), in UTC: the API's own clock, the same for everyone
const when = (iso) => (iso ? `${iso.slice(0, 19).replace('T', ' ')} UTC` : '');

function say(message) {
  $('status').textContent = message;
  $('error').hidden = true;
}

function fail(err) {
  if (err instanceof SignedOut) return;
  if (err instanceof ApiFailure && err.status === 401) return signOut(err.message);
  $('status').textContent = '';
  $('error').textContent = err instanceof Error ? err.message : String(err);
  $('error').hidden = false;
}

/** A new action begins: what the page said about the previous one no longer applies. */
function clearMessages() {
  $('status').textContent = '';
  $('error').hidden = true;
}

// Runs an action, reporting its failure in the page instead of losing it in the console. The button (or
// the form's submit button) that started it stays disabled until it is over: a double click acts once.
function guarded(fn) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    const target = event && event.currentTarget;
    const control = target instanceof HTMLFormElement ? target.querySelector('button[type=submit]') : target instanceof HTMLButtonElement ? target : null;
    if (control) {
      if (control.dataset.busy) return;
      control.dataset.busy = '1';
      control.disabled = true;
    }
    clearMessages();
    try {
      await fn(event);
    } catch (err) {
      fail(err);
    } finally {
      if (control) {
        delete control.dataset.busy;
        // a live-only control stays as loadAccount left it
        control.disabled = LIVE_ONLY.includes(control.id) && mode !== 'live';
      }
    }
  };
}

function showSignedIn(on) {
  $('sign-in').hidden = on;
  $('signed-in').hidden = !on;
  $('sign-out').hidden = !on;
  // the badge waits for the account: a page whose account failed to load shows none
  $('mode').hidden = !on || mode === null;
}

function signOut(message) {
  session++;
  listGeneration++;
  apiKey = null;
  mode = null;
  listQuery = null;
  nextCursor = null;
  sessionStorage.removeItem(KEY_STORAGE);
  $('delivery-rows').replaceChildren();
  $('load-more').hidden = true;
  $('webhook-alert').hidden = true;
  $('secret').hidden = true;
  $('secret').textContent = '';
  $('status').textContent = '';
  $('error').hidden = true;
  for (const id of LIVE_ONLY) $(id).disabled = true;
  disarmTwoStep();
  // the next account starts from an empty page: no filters, drafts or times of the one before
  for (const id of ['filter-form', 'webhook-form', 'recover-form']) $(id).reset();
  $('deliveries-empty').hidden = true;
  showSignedIn(false);
  $('sign-in-error')?.remove();
  if (message) $('sign-in').querySelector('.hint').before(el('p', { id: 'sign-in-error', class: 'error', role: 'alert', text: message }));
  $('key').focus();
}

async function loadAccount() {
  const info = await api('GET', '/account/info');
  mode = info.mode;
  $('mode').textContent = mode === 'test' ? 'test mode' : 'live';
  $('mode').hidden = false;
  $('mode').className = mode === 'test' ? 'badge test' : 'badge';
  $('credits').textContent = String(info.credits);
  // a test key sees the test balance only
  $('balance-sub').textContent = info.balances.sub === undefined ? '—' : String(info.balances.sub);
  $('balance-paygo').textContent = info.balances.paygo === undefined ? '—' : String(info.balances.paygo);
  $('balance-test').textContent = String(info.balances.test);

  const disabled = info.webhook_disabled;
  const failing = info.webhook_failing;
  const current = info.webhooks[0] || (disabled ? disabled.url : null);
  // a test key is shown neither the live URL nor its health: test searches use the URL their request names
  $('webhook-url').textContent =
    mode === 'test' ? 'not shown to test keys (test searches send webhooks only to the URL their request names)' : current ? current + (disabled ? ' (disabled)' : '') : 'none';
  // "set the URL again": the field holds it, unless the user has typed something else
  if (disabled && !$('webhook-input').value) $('webhook-input').value = disabled.url;
  const alert = $('webhook-alert');
  if (disabled) {
    alert.className = 'alert';
    alert.textContent =
      `Your global webhook URL ${disabled.url} was disabled on ${when(disabled.disabled_at)}: ${disabled.reason}. ` +
      'Searches that complete from now on send it no webhook (their results stay available through the API); ' +
      'deliveries already scheduled keep their retries. ' +
      'Save the URL again below (it is filled in; the same one, once the receiver is fixed) to resume; failed deliveries can then be sent again with Recover.';
    alert.hidden = false;
  } else if (failing) {
    alert.className = 'alert warning';
    // the URL is disabled by the first failed delivery after that time, not at that time
    const overdue = Date.parse(failing.disabled_after) <= Date.now();
    alert.textContent =
      `Deliveries to your global webhook URL ${failing.url} have been failing since ${when(failing.since)}. ` +
      (overdue
        ? 'It will be disabled at its next failed delivery unless one succeeds first.'
        : `It will be disabled at its first failed delivery after ${when(failing.disabled_after)} unless one succeeds before then.`);
    alert.hidden = false;
  } else {
    alert.hidden = true;
  }

  const live = mode === 'live';
  for (const id of LIVE_ONLY) $(id).disabled = !live;
  $('webhook-test-note').hidden = live;
}

function filterQuery() {
  const q = new URLSearchParams({ limit: '25' });
  if ($('filter-status').value) q.set('status', $('filter-status').value);
  if ($('filter-event').value) q.set('event', $('filter-event').value);
  if ($('filter-search').value.trim()) q.set('search_id', $('filter-search').value.trim());
  return q;
}

/**
 * The first page with the filters as they are now; `more`: the next page of the list as loaded;
 * `again`: its first page again, with the filters it was loaded with (not ones picked but not applied).
 */
async function loadDeliveries({ more = false, again = false } = {}) {
  if (more && (!listQuery || !nextCursor)) return;
  const q = more || (again && listQuery) ? new URLSearchParams(listQuery) : filterQuery();
  if (more) q.set('cursor', nextCursor);
  const generation = ++listGeneration;
  const page = await api('GET', `/webhooks/deliveries?${q}`);
  // a newer load (other filters, a refresh) began meanwhile: its answer is the one to show
  if (generation !== listGeneration) return;
  const rows = $('delivery-rows');
  if (!more) {
    rows.replaceChildren();
    listQuery = q.toString();
  }
  const added = page.data.map(deliveryRow);
  rows.append(...added);
  nextCursor = page.next_cursor;
  $('load-more').hidden = !nextCursor;
  $('deliveries-empty').hidden = rows.children.length > 0;
  // the Load more button that had the focus may be gone: the focus goes on to what it loaded
  if (more && added.length && (document.activeElement === document.body || document.activeElement === $('load-more'))) added[0].querySelector('button').focus();
}

/** The filters changed but are not applied yet: the list shown does not answer them, so no next page of it. */
function filtersChanged() {
  nextCursor = null;
  $('load-more').hidden = true;
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
    el('td', { class: 'url', text: d.url, title: d.url }),
    el('td', { class: `status-${d.status}`, text: d.status }),
    el('td', { text: String(d.attempts) }),
    el('td', { text: lastResult(d) }),
    actions,
  );
  actions.append(
    el('button', { type: 'button', class: 'details-toggle', text: 'Details', 'aria-expanded': 'false', 'aria-label': `Details of delivery ${d.id}`, onclick: guarded(() => toggleDetails(row, d.id)) }),
  );
  // a delivery waiting for its next retry may be sent now too; one being attempted may not (409)
  if (d.status !== 'delivering') {
    actions.append(' ', el('button', { type: 'button', class: 'redeliver', text: 'Redeliver', 'aria-label': `Redeliver ${d.id}`, onclick: guarded(() => redeliver(row, d.id)) }));
  }
  return row;
}

async function toggleDetails(row, id) {
  const open = row.nextElementSibling;
  const toggle = row.querySelector('.details-toggle');
  if (open && open.classList.contains('details')) {
    open.remove();
    toggle.setAttribute('aria-expanded', 'false');
    return;
  }
  const d = await api('GET', `/webhooks/deliveries/${encodeURIComponent(id)}`);
  // the list may have been reloaded while the details were on their way
  if (!row.isConnected) return;
  const attempts = el('table', {}, el('thead', {}, el('tr', {}, ...['#', 'Started', 'Duration', 'Status', 'Error', 'Response body (its first 32 KB are kept)'].map((h) => el('th', { text: h })))));
  const body = el('tbody');
  for (const a of d.attempt_log) {
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
    d.attempt_log.length ? attempts : el('p', { class: 'hint', text: 'Not attempted yet.' }),
    el('h3', { text: 'Payload' }),
    el('pre', { class: 'payload', text: d.payload || '' }),
  );
  row.after(el('tr', { class: 'details' }, cell));
  toggle.setAttribute('aria-expanded', 'true');
}

// The row is redrawn where it stands, the rest of the list as loaded (pages, open details) kept; it is
// followed for a few seconds, until the new attempt has an outcome.
async function redeliver(row, id) {
  await api('POST', `/webhooks/deliveries/${encodeURIComponent(id)}/retry`);
  say(`Delivery ${id} will be sent again.`);
  let current = row;
  let before = null;
  for (let i = 0; i < 10 && current.isConnected; i++) {
    const detail = await api('GET', `/webhooks/deliveries/${encodeURIComponent(id)}`);
    if (!current.isConnected) return;
    const d = detail;
    current = redraw(current, d);
    before ??= d.attempts;
    // over once the new attempt is recorded: delivered, failed for good, or scheduled for a later retry
    if (d.status !== 'delivering' && (d.status !== 'pending' || d.attempts > before)) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await loadAccount();
}

/** Replaces a delivery's row by one drawn from `d`, its details (if open) reloaded, the focus kept on its row. */
function redraw(row, d) {
  const fresh = deliveryRow(d);
  // the clicked button, disabled while its action runs, has handed the focus to the page: it comes back here
  const active = document.activeElement;
  const hadFocus = row.contains(active) || !active || active === document.body;
  const details = row.nextElementSibling && row.nextElementSibling.classList.contains('details') ? row.nextElementSibling : null;
  row.replaceWith(fresh);
  if (details) {
    details.remove();
    toggleDetails(fresh, d.id).catch(fail);
  }
  if (hadFocus) (fresh.querySelector('.redeliver') || fresh.querySelector('button')).focus();
  return fresh;
}

// Actions that are hard to undo (rotating the secret, clearing the global URL) take a second, deliberate
// click: not the second half of a double click, and within 5 s.
const CONFIRM_AFTER_MS = 600;
let armed = null;

function disarmTwoStep() {
  if (!armed) return;
  clearTimeout(armed.timer);
  $(armed.id).textContent = armed.label;
  armed = null;
}

/** The click handler of a two-step button: the first click arms it (the label says so), the second acts. */
function twoStep(id, armedLabel, action) {
  return async (event) => {
    if (event.detail > 1) return;
    if (!armed || armed.id !== id) {
      disarmTwoStep();
      armed = { id, label: $(id).textContent, at: Date.now(), timer: setTimeout(disarmTwoStep, 5000) };
      $(id).textContent = armedLabel;
      return;
    }
    if (Date.now() - armed.at < CONFIRM_AFTER_MS) return;
    disarmTwoStep();
    await action();
  };
}

async function rotate() {
  const r = await api('POST', '/webhooks/secret/rotate');
  $('secret').textContent = r.secret;
  $('secret').hidden = false;
  say(`Secret rotated. The previous one keeps signing until ${when(r.previous_secret_valid_until)}.`);
}

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener(
    'submit',
    guarded(async () => {
      apiKey = $('key').value.trim();
      $('sign-in-error')?.remove();
      // a key copied with quotes or other text around it cannot even be sent as a header
      if (!/^[\x21-\x7e]+$/.test(apiKey)) return signOut('An API key has letters, digits, "_" and "-" only: check for quotes or spaces copied with it.');
      try {
        await loadAccount();
      } catch (err) {
        return signOut(err.message);
      }
      sessionStorage.setItem(KEY_STORAGE, apiKey);
      $('key').value = '';
      showSignedIn(true);
      say('');
      // the sign-in form that had the focus is hidden: the focus goes to the page it opened
      $('signed-in-title').focus();
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
    guarded(
      twoStep('webhook-clear', 'Click again to clear', async () => {
        await api('PUT', '/account/webhook', { url: null });
        say('Global webhook cleared: completed searches without a URL of their own send no webhook.');
        await loadAccount();
      }),
    ),
  );

  $('secret-show').addEventListener(
    'click',
    guarded(async () => {
      const { secret } = await api('GET', '/webhooks/secret');
      $('secret').textContent = secret;
      $('secret').hidden = false;
    }),
  );
  $('secret-rotate').addEventListener('click', guarded(twoStep('secret-rotate', 'Click again to rotate', rotate)));

  // Refresh brings the whole page up to date: balances, the URL's health, and the list
  $('filter-form').addEventListener('submit', guarded(() => Promise.all([loadAccount(), loadDeliveries()])));
  for (const id of ['filter-status', 'filter-event', 'filter-search']) $(id).addEventListener('input', filtersChanged);
  $('load-more').addEventListener('click', guarded(() => loadDeliveries({ more: true })));
  $('recover-form').addEventListener(
    'submit',
    guarded(async () => {
      // the field is read as UTC, like every time on the page (datetime-local carries no zone)
      const since = new Date(`${$('recover-since').value}Z`);
      if (Number.isNaN(since.getTime())) throw new Error('Pick the time to recover from (UTC).');
      const r = await api('POST', '/webhooks/recover', { since: since.toISOString() });
      say(`${r.recovered} failed ${r.recovered === 1 ? 'delivery' : 'deliveries'} will be sent again.`);
      await loadDeliveries({ again: true });
    }),
  );

  if (apiKey) {
    // a key kept from before a reload: the account is loaded before anything is shown as signed in
    guarded(async () => {
      try {
        await loadAccount();
      } catch (err) {
        if (err instanceof ApiFailure && err.status === 401) throw err;
        showSignedIn(true);
        throw err;
      }
      showSignedIn(true);
      await loadDeliveries();
    })();
  } else {
    showSignedIn(false);
  }
});
