// #/dashboard: this node's identity, health, parent and counts (GET /api/v1/node).
import { get } from './api.js';
import { $, shortId } from './dom.js';

export async function refreshDashboard(ctx) {
  const n = await get('/api/v1/node');
  ctx.node = n;
  $('#node-id').textContent = n.id;
  $('#node-address').textContent = n.address || '—';
  const h = $('#node-health');
  h.textContent = n.healthy ? 'healthy' : 'unhealthy';
  h.dataset.healthy = String(!!n.healthy);
  h.className = `badge ${n.healthy ? 'good' : 'bad'}`;
  $('#node-health-reasons').textContent = (n.health_reasons ?? []).join('; ');
  if (n.parent) {
    $('#node-parent').textContent = n.parent.id;
    $('#node-parent').classList.remove('none');
    $('#node-parent').title = n.parent.id;
    $('#node-parent-address').textContent = n.parent.address ? `at ${n.parent.address}` : '';
  } else {
    $('#node-parent').textContent = n.root ? 'none (this node is the root)' : 'none (looking for one)';
    $('#node-parent').classList.add('none');
    $('#node-parent').removeAttribute('title');
    $('#node-parent-address').textContent = '';
  }
  $('#node-version').textContent = n.version ?? '';
  $('#node-peers').textContent = String(n.peers);
  $('#node-known').textContent = String(n.known_nodes);
  $('#node-tunnels').textContent = String(n.tunnels);
  updateHeader(n);
}

/** The header: this node's short ID and a health dot (on every page). */
export function updateHeader(n) {
  const id = $('#header-node');
  id.textContent = shortId(n.id);
  id.title = n.id;
  id.dataset.copy = n.id;
  const dot = $('#header-health');
  dot.className = `dot ${n.healthy ? 'good' : 'bad'}`;
  dot.title = n.healthy ? 'healthy' : `unhealthy: ${(n.health_reasons ?? []).join('; ')}`;
}

export function installDashboard() {
  $('#node-id-copy').addEventListener('click', async () => {
    const id = $('#node-id').textContent;
    try {
      await navigator.clipboard.writeText(id);
      $('#node-id-copy').textContent = 'copied';
    } catch {
      const r = document.createRange();
      r.selectNodeContents($('#node-id'));
      getSelection().removeAllRanges();
      getSelection().addRange(r);
      $('#node-id-copy').textContent = 'selected';
    }
    setTimeout(() => ($('#node-id-copy').textContent = 'copy'), 1200);
  });
}
