// #/tunnels: this node's tunnels, the create form (this node as the server) and revoke.
import { get, post, ApiError } from './api.js';
import { $, el, idCell, replace, shortId } from './dom.js';
import { nodeIdError, parseTargets, parseDnsNames } from './validate.js';

let knownKey = '';
let tableKey = '';

function showError(text) {
  const e = $('#tunnel-error');
  e.textContent = text ?? '';
  e.hidden = !text;
}

// #tunnel-result holds the created ID alone (tests read it); its paragraph says what it is.
function showResult(id) {
  $('#tunnel-created').hidden = !id;
  $('#tunnel-result').textContent = id ?? '';
  if (id) $('#tunnel-result').dataset.copy = id;
  else delete $('#tunnel-result').dataset.copy;
}

function listText(v) {
  const list = Array.isArray(v) ? v : String(v ?? '').split(',');
  const items = list.map((x) => String(x).trim()).filter((x) => x);
  return items.length ? items.join(', ') : '—';
}

function networkKey(ctx) {
  if (ctx.session?.network_key_configured) return undefined;
  return $('#tunnel-network-key').value.trim();
}

export async function refreshTunnels(ctx) {
  const list = await get('/api/v1/tunnels');
  const body = $('#tunnels-table tbody');
  const key = JSON.stringify(list);
  if (key !== tableKey) {
    tableKey = key;
    renderTable(body, list);
  }
  $('#tunnels-count').textContent = `(${list.length})`;
  await refreshKnownNodes(ctx);
}

function renderTable(body, list) {
  replace(
    body,
    list.map((t) =>
      el(
        'tr',
        { dataset: { endpointId: t.id } },
        el('td', {}, idCell(t.id)),
        el('td', {}, t.server_side ? 'server' : 'client'),
        el('td', {}, el('span', { class: `badge ${t.established ? 'good' : 'warn'}` }, t.established ? 'established' : 'not established')),
        el('td', {}, t.path || '—'),
        el('td', {}, el('code', {}, listText(t.targets))),
        el('td', {}, idCell(t.remote_node)),
        el('td', {}, idCell(t.remote_endpoint)),
        el('td', {}, listText(t.dns_names)),
        el('td', {}, el('button', { type: 'button', class: 'revoke danger small-btn', dataset: { id: t.id }, title: `revoke tunnel ${t.id}` }, 'Revoke')),
      ),
    ),
  );
  if (list.length === 0) replace(body, el('tr', {}, el('td', { colspan: 9, class: 'muted' }, 'no tunnels')));
}

// The datalist of node IDs for the client-node field: the known nodes but this one.
async function refreshKnownNodes(ctx) {
  const rows = ctx.nodes ?? (await get('/api/v1/nodes'));
  const self = ctx.node?.id;
  const options = rows
    .filter((r) => (r.kind || 'node') === 'node' && r.node_id !== self)
    .map((r) => el('option', { value: r.node_id, label: `${shortId(r.node_id)} ${r.tags || ''} ${r.address || ''}`.trim() }));
  // Replacing the options closes an open suggestion list: only when they change.
  const key = JSON.stringify(options.map((o) => [o.value, o.label]));
  if (key !== knownKey) replace($('#known-node-ids'), options);
  knownKey = key;
}

/** The form's checks; the request body, or an error naming the field. */
function checkForm(ctx) {
  const targets = parseTargets($('#tunnel-targets').value);
  if (targets.error) return { field: '#tunnel-targets', error: `Targets: ${targets.error}` };
  const remote = $('#tunnel-remote-node').value.trim();
  const idErr = remote ? nodeIdError(remote) : 'enter the client node ID';
  if (idErr) return { field: '#tunnel-remote-node', error: `Client node: ${idErr}` };
  if (ctx.node && remote.toLowerCase() === ctx.node.id.toLowerCase()) {
    return { field: '#tunnel-remote-node', error: 'Client node: this node is the server; pick another node' };
  }
  const dns = parseDnsNames($('#tunnel-dns-names').value);
  if (dns.error) return { field: '#tunnel-dns-names', error: `DNS names: ${dns.error}` };
  const body = { targets: targets.targets.join(','), remote_node: remote, dns_names: dns.names };
  const key = networkKey(ctx);
  if (key !== undefined) {
    if (!key) return { field: '#tunnel-network-key', error: 'Network key: paste the network private key (mcc-web has no network-key-file)' };
    body.network_key = key;
  }
  return { body };
}

function markInvalid(field) {
  for (const f of ['#tunnel-targets', '#tunnel-remote-node', '#tunnel-dns-names', '#tunnel-network-key']) {
    $(f).toggleAttribute('aria-invalid', f === field);
  }
}

export function installTunnels(ctx, refresh) {
  $('#tunnel-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showResult(null);
    const c = checkForm(ctx);
    markInvalid(c.field);
    if (c.error) {
      showError(c.error);
      $(c.field).focus();
      return;
    }
    showError('');
    const btn = $('#tunnel-submit');
    btn.disabled = true;
    try {
      const r = await post('/api/v1/tunnels', c.body);
      showResult(r.id);
      $('#tunnel-targets').value = '';
      $('#tunnel-dns-names').value = '';
      await refresh();
    } catch (e) {
      showError(e instanceof ApiError ? `Server: ${e.message}` : String(e.message ?? e));
    } finally {
      btn.disabled = false;
    }
  });
  // Say what is wrong as the user types, once a field has been left.
  for (const f of ['#tunnel-targets', '#tunnel-remote-node', '#tunnel-dns-names']) {
    $(f).addEventListener('change', () => {
      const c = checkForm(ctx);
      if (c.field === f) showError(c.error);
      else if (!c.error || $(c.field).value === '') showError('');
      markInvalid(c.field === f ? f : null);
    });
  }
  $('#tunnels-table').addEventListener('click', async (ev) => {
    const b = ev.target.closest('button.revoke');
    if (!b) return;
    const id = b.dataset.id;
    const key = networkKey(ctx);
    if (key === '') {
      showError('Network key: paste the network private key in the form below to revoke (mcc-web has no network-key-file)');
      $('#tunnel-network-key').focus();
      return;
    }
    if (!window.confirm(`Revoke tunnel ${id}?\n\nThe revocation is signed with the network key and flooded to every node; it cannot be undone.`)) return;
    b.disabled = true;
    showError('');
    try {
      await post(`/api/v1/tunnels/${encodeURIComponent(id)}/revoke`, key === undefined ? {} : { network_key: key });
      await refresh();
    } catch (e) {
      b.disabled = false;
      showError(e instanceof ApiError ? `Server: ${e.message}` : String(e.message ?? e));
    }
  });
}

/** Shows the network-key field only when mcc-web has no network-key-file. */
export function sessionChanged(ctx) {
  $('#tunnel-network-key-row').hidden = !!ctx.session?.network_key_configured;
}

export function resetTunnels() {
  tableKey = '';
  knownKey = '';
  $('#known-node-ids').replaceChildren();
  $('#tunnel-network-key').value = '';
  showError('');
  showResult(null);
  $('#tunnels-table tbody').replaceChildren();
}
