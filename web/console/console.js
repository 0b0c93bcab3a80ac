// The operator's console: what is live (apps → rooms → users with their media facts and a preview each), the
// tasks, relays, callback queue and recent refusals, updated by one Server-Sent Events stream; and the actions,
// which go to POST /console/action and through the same code as the API 3.0 actions.

import { h, render } from './preact.js';
import { useEffect, useRef, useState } from './hooks.js';
import htm from './htm.js';

const html = htm.bind(h);

async function act(action, params) {
  const res = await fetch('/console/action', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ action, params }),
  });
  if (!res.ok) {
    const e = await res.json().catch(() => ({}));
    throw new Error(`${e.code ?? res.status}: ${e.message ?? res.statusText}`);
  }
}

/** The room's parameters in the form its action takes: RoomId for integer rooms, the …ByStrRoomId form otherwise. */
function roomAction(room, base, extra = {}) {
  if (room.type === 'integer') return [base, { SdkAppId: room.sdkAppId, RoomId: Number(room.roomId), ...extra }];
  const key = base === 'SetUserBlocked' ? 'StrRoomId' : 'RoomId';
  return [`${base}ByStrRoomId`, { SdkAppId: room.sdkAppId, [key]: room.roomId, ...extra }];
}

function ActionButton({ label, run, setError }) {
  const [busy, setBusy] = useState(false);
  const click = async () => {
    setBusy(true);
    try {
      await run();
      setError('');
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<button disabled=${busy} onClick=${click}>${label}</button>`;
}

/** A WHEP preview of one publisher, through a console-only viewer the gateway makes a UserSig for. */
function Preview({ room, userId }) {
  const video = useRef(null);
  const [state, setState] = useState('connecting');
  useEffect(() => {
    let pc = null;
    let resource = '';
    let closed = false;
    (async () => {
      const cred = await fetch(`/console/preview/${room.sdkAppId}/${encodeURIComponent(room.roomId)}?user=${encodeURIComponent(userId)}`).then((r) => r.json());
      if (closed || !cred.url) return setState(cred.error ?? 'no preview');
      pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      video.current.srcObject = stream;
      pc.ontrack = (e) => stream.addTrack(e.track);
      pc.onconnectionstatechange = () => setState(pc.connectionState);
      await pc.setLocalDescription();
      const res = await fetch(cred.url, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${cred.token}` }, body: pc.localDescription.sdp });
      const body = await res.text();
      if (res.status !== 201) return setState(body.trim());
      resource = new URL(res.headers.get('Location'), location.href).href;
      if (closed) return void fetch(resource, { method: 'DELETE', keepalive: true });
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
    })().catch((e) => setState(e.message));
    return () => {
      closed = true;
      pc?.close();
      if (resource) void fetch(resource, { method: 'DELETE', keepalive: true }).catch(() => {});
    };
  }, [room.sdkAppId, room.roomId, userId]);
  return html`<div class="tile" data-preview=${userId}>
    <video ref=${video} autoplay muted playsinline></video>
    <div class="caption">${userId} <span class=${state === 'connected' ? 'state-live' : 'muted'}>${state}</span></div>
  </div>`;
}

function Room({ room, setError }) {
  const blocked = (u) => (u.blocked.audio && u.blocked.video ? 'audio+video' : u.blocked.audio ? 'audio' : u.blocked.video ? 'video' : '');
  return html`<div class="room" data-room=${room.roomId}>
    <div class="room-head">
      <strong>${room.type} room ${room.roomId}</strong>
      <span class="muted">app ${room.sdkAppId} · ${room.users.length} publishing · ${room.viewers} watching</span>
      <${ActionButton} label="Dismiss room" setError=${setError} run=${() => act(...roomAction(room, 'DismissRoom'))} />
    </div>
    <table>
      <thead><tr><th>user</th><th>source</th><th>codec</th><th>picture</th><th>fps</th><th>kb/s</th><th>address</th><th>viewers</th><th>blocked</th><th></th></tr></thead>
      <tbody>
        ${room.users.map((u) => html`<tr data-user=${u.userId}>
          <td>${u.userId}</td>
          <td>${u.source}</td>
          <td>${u.video ? `H.264 ${u.video.profile}` : '—'}${u.audio ? ` / ${u.audio.codec}` : ''}</td>
          <td>${u.video ? `${u.video.width}×${u.video.height}` : '—'}</td>
          <td>${u.video ? u.video.fps : '—'}</td>
          <td>${u.kbps}</td>
          <td>${u.remote}</td>
          <td>${u.viewers}</td>
          <td>${blocked(u)}</td>
          <td>
            <${ActionButton} label="Remove" setError=${setError} run=${() => act(...roomAction(room, 'RemoveUser', { UserIds: [u.userId] }))} />
            <${ActionButton} label=${blocked(u) ? 'Unmute' : 'Mute'} setError=${setError}
              run=${() => act(...roomAction(room, 'SetUserBlocked', { UserId: u.userId, IsMute: blocked(u) ? 0 : 1 }))} />
          </td>
        </tr>`)}
      </tbody>
    </table>
    ${room.audience.length > 0 && html`<div class="muted">audience: ${room.audience.map((a) => `${a.userId} (${a.source})`).join(', ')}</div>`}
    <div class="tiles">${room.users.map((u) => html`<${Preview} key=${u.userId} room=${room} userId=${u.userId} />`)}</div>
  </div>`;
}

function Tasks({ snap, setError }) {
  return html`<section id="tasks">
    <h2>Pull tasks</h2>
    <table>
      <thead><tr><th>task</th><th>app</th><th>room</th><th>user</th><th>state</th><th>source</th><th>restarts</th><th></th></tr></thead>
      <tbody>${snap.pulls.map((t) => html`<tr data-task=${t.taskId}>
        <td>${t.taskId}</td><td>${t.sdkAppId}</td><td>${t.roomId}</td><td>${t.userId}</td><td>${t.state}</td><td>${t.source}</td><td>${t.restarts}</td>
        <td><${ActionButton} label="Stop" setError=${setError} run=${() => act('StopStreamIngest', { SdkAppId: t.sdkAppId, TaskId: t.taskId })} /></td>
      </tr>`)}</tbody>
    </table>
    <h2>Recordings</h2>
    <table>
      <thead><tr><th>task</th><th>app</th><th>room</th><th>state</th><th>files</th><th></th></tr></thead>
      <tbody>${snap.recordings.map((t) => html`<tr data-recording=${t.taskId}>
        <td>${t.taskId}</td><td>${t.sdkAppId}</td><td>${t.roomId}</td><td>${t.state}</td>
        <td>${t.localFiles.map((name) => html`<a href=${`/console/recordings/${encodeURIComponent(t.taskId)}/${encodeURIComponent(name)}`} download=${name}>${name}</a> `)}</td>
        <td><${ActionButton} label="Stop" setError=${setError} run=${() => act('DeleteCloudRecording', { SdkAppId: t.sdkAppId, TaskId: t.taskId })} /></td>
      </tr>`)}</tbody>
    </table>
    <h2>Relays to CDN</h2>
    <table>
      <thead><tr><th>task</th><th>app</th><th>push state</th><th></th></tr></thead>
      <tbody>${snap.relays.map((t) => html`<tr>
        <td>${t.taskId}</td><td>${t.sdkAppId}</td><td>${t.state}</td>
        <td><${ActionButton} label="Stop" setError=${setError} run=${() => act('StopPublishCdnStream', { SdkAppId: t.sdkAppId, TaskId: t.taskId })} /></td>
      </tr>`)}</tbody>
    </table>
  </section>`;
}

function Console() {
  const [snap, setSnap] = useState(null);
  const [link, setLink] = useState('connecting');
  const [error, setError] = useState('');
  useEffect(() => {
    const events = new EventSource('/console/events');
    events.onmessage = (e) => {
      setSnap(JSON.parse(e.data));
      setLink('live');
    };
    events.onerror = () => setLink('reconnecting');
    return () => events.close();
  }, []);
  if (!snap) return html`<p class="muted">Connecting to the gateway… (${link})</p>`;
  const c = snap.callbacks;
  return html`
    <header>
      <h1>roomgate console</h1>
      <span>node ${snap.node}</span>
      <span>${snap.rooms.length} rooms</span>
      <span>callbacks: ${c.queued} queued, ${c.delivered} delivered, ${c.failedAttempts} failed attempts, ${c.dropped} dropped</span>
      <span class=${link === 'live' ? 'state-live' : 'error'}>${link}</span>
    </header>
    ${error && html`<p class="error" id="action-error">${error}</p>`}
    <section id="rooms">
      <h2>Rooms</h2>
      ${snap.rooms.length === 0 ? html`<p class="muted">No one is in any room.</p>` : snap.rooms.map((r) => html`<${Room} key=${`${r.sdkAppId}/${r.type}/${r.roomId}`} room=${r} setError=${setError} />`)}
    </section>
    <${Tasks} snap=${snap} setError=${setError} />
    ${snap.cluster && html`<${Cluster} cluster=${snap.cluster} />`}
    <section id="callback-failures">
      <h2>Recent callback failures</h2>
      ${snap.callbackFailures.length === 0 ? html`<p class="muted">None.</p>` : html`<table>
        <thead><tr><th>when</th><th>event</th><th>URL</th><th>failure</th></tr></thead>
        <tbody>${snap.callbackFailures.map((f) => html`<tr><td>${f.at}</td><td>${f.event}</td><td>${f.url}</td><td>${f.failure}</td></tr>`)}</tbody>
      </table>`}
    </section>
    <section id="refusals">
      <h2>Recent refusals</h2>
      <table>
        <thead><tr><th>when</th><th>what</th><th>reason</th></tr></thead>
        <tbody>${snap.refusals.map((r) => html`<tr><td>${r.at}</td><td>${r.name}</td><td>${r.detail}</td></tr>`)}</tbody>
      </table>
    </section>`;
}

/** Many nodes: who holds a lease, and each room's users on any node. */
function Cluster({ cluster }) {
  if (cluster.error) return html`<section id="cluster"><h2>Cluster</h2><p class="error">${cluster.error}</p></section>`;
  return html`<section id="cluster">
    <h2>Cluster nodes</h2>
    <table>
      <thead><tr><th>node</th><th>internal address</th><th>up since</th></tr></thead>
      <tbody>${cluster.nodes.map((n) => html`<tr class="node"><td>${n.id}${n.self ? ' (this one)' : ''}</td><td>${n.httpUrl}</td><td>${n.startedAt}</td></tr>`)}</tbody>
    </table>
    <h2>Rooms across the cluster</h2>
    ${cluster.rooms.length === 0 ? html`<p class="muted">No room on any node.</p>` : html`<table>
      <thead><tr><th>app</th><th>room</th><th>users (sessions)</th></tr></thead>
      <tbody>${cluster.rooms.map((r) => html`<tr><td>${r.sdkAppId}</td><td>${r.type === 'integer' ? r.roomId : `'${r.roomId}'`}</td><td>${Object.entries(r.users).map(([u, n]) => `${u} (${n})`).join(', ')}</td></tr>`)}</tbody>
    </table>`}
  </section>`;
}

render(html`<${Console} />`, document.getElementById('console'));
