// roomgate play page: lists a room's publishers every 2 s and plays each over WHEP (recvonly H.264 + Opus) in its
// own tile, with live stats from getStats(). A plain ES module with no dependencies, served as is by
// src/api/play.ts. Everything the page shows is also in window.__roomgate, for tests and for curious people.

const REFRESH_MS = 2000;
const STATS_MS = 1000;
const RETRY_MS = 3000;

// The page lives at <prefix>/play/{SdkAppId}/{RoomId}; the API is under the same prefix.
const where = /^(.*)\/play\/([^/]+)\/([^/]+)\/?$/.exec(location.pathname);
const base = location.origin + (where ? where[1] : '');
const sdkAppId = where ? decodeURIComponent(where[2]) : '';
const roomId = where ? decodeURIComponent(where[3]) : '';
const enc = encodeURIComponent;

const $ = (id) => document.getElementById(id);
const grid = $('grid');
const notice = $('notice');
const userInput = $('user');
const tokenInput = $('token');
const template = $('tile-template');

const view = { publishers: [], tiles: {}, notice: '', error: '' };
window.__roomgate = view;

/** userId → Tile */
const tiles = new Map();
let viewer = { user: '', token: '' };
let pollTimer = 0;
/** Bumped whenever the identity changes, so answers to an older identity are dropped. */
let generation = 0;

function say(text, kind = 'info') {
  notice.textContent = text;
  notice.dataset.kind = text ? kind : '';
  view.notice = text;
  view.error = kind === 'error' ? text : '';
}

/** The server's reason (WHEP and the publishers API answer refusals as one line of text). */
async function reasonOf(res) {
  const text = (await res.text().catch(() => '')).trim();
  return text || `${res.status} ${res.statusText}`;
}

function explain(status, reason) {
  if (status === 401) return `The gateway did not accept the token: ${reason}.`;
  if (status === 403) return `This token may not watch room '${roomId}': ${reason}.`;
  if (status === 400 || status === 404) return `${reason[0].toUpperCase()}${reason.slice(1)}.`;
  return `The gateway answered ${status}: ${reason}.`;
}

const authHeader = () => ({ Authorization: `Bearer ${viewer.token}` });

// ---- the publisher list -------------------------------------------------------------------------------------

async function refresh(gen) {
  const url = `${base}/v2/room/${enc(sdkAppId)}/${enc(roomId)}/publishers?SessionID=${enc(viewer.user)}`;
  let res;
  try {
    res = await fetch(url, { headers: authHeader(), cache: 'no-store' });
  } catch {
    if (gen !== generation) return;
    say('Cannot reach the gateway. Retrying…', 'error');
    return schedule(gen);
  }
  if (gen !== generation) return;
  if (!res.ok) {
    const reason = await reasonOf(res);
    if (gen !== generation) return;
    // Refused ids or tokens do not fix themselves: stop asking until the viewer enters new ones.
    say(explain(res.status, reason) + (res.status < 500 ? ' Enter another user ID or token above.' : ' Retrying…'), 'error');
    if (res.status >= 500) schedule(gen);
    return;
  }
  const { publishers } = await res.json();
  if (gen !== generation) return;
  sync(publishers);
  say(publishers.length ? '' : `Nobody is publishing in room '${roomId}' yet. This page checks every 2 seconds.`);
  schedule(gen);
}

function schedule(gen) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => refresh(gen), REFRESH_MS);
}

function sync(publishers) {
  view.publishers = publishers.map((p) => p.userId);
  const present = new Set(view.publishers);
  for (const [userId, tile] of tiles) {
    if (present.has(userId)) continue;
    tile.close();
    tiles.delete(userId);
  }
  for (const p of publishers) {
    let tile = tiles.get(p.userId);
    if (!tile) {
      tile = new Tile(p.userId);
      tiles.set(p.userId, tile);
      grid.append(tile.el);
      tile.start();
    }
    tile.describe(p);
  }
  grid.dataset.count = String(tiles.size);
}

// ---- one tile: a WHEP session for one publisher ----------------------------------------------------------

class Tile {
  constructor(userId) {
    this.userId = userId;
    this.el = template.content.firstElementChild.cloneNode(true);
    this.el.dataset.user = userId;
    this.video = this.el.querySelector('video');
    this.video.muted = true;
    this.overlay = this.el.querySelector('.overlay');
    this.el.querySelector('.user').textContent = userId;
    this.pc = null;
    this.resource = '';
    this.closed = false;
    this.timers = { stats: 0, retry: 0 };
    this.prev = null;
    this.stats = {
      state: 'new', width: 0, height: 0, fps: 0, kbps: 0, rttMs: null, lossPct: 0, lost: 0, framesDecoded: 0,
      error: '', resource: '',
    };
    view.tiles[userId] = this.stats;

    const unmute = this.el.querySelector('.unmute');
    unmute.addEventListener('click', () => {
      this.video.muted = !this.video.muted;
      unmute.textContent = this.video.muted ? 'Unmute' : 'Mute';
      void this.video.play().catch(() => {});
    });
    this.video.addEventListener('dblclick', () => void this.video.requestFullscreen?.().catch(() => {}));
    this.video.addEventListener('playing', () => this.showOverlay(''));
    this.showOverlay('Connecting…');
    this.render();
  }

  /** The publisher's facts as the gateway reports them (what it receives, before WebRTC). */
  describe(p) {
    this.el.querySelector('.source').textContent = p.source;
    const v = p.video;
    const a = p.audio;
    const parts = [];
    if (v) parts.push(`${v.codec === 'H264' ? 'H.264' : v.codec} ${v.profile} ${Number(v.level).toFixed(1)}`, `${v.width}×${v.height}`, `${Math.round(v.fps)} fps`);
    if (a) parts.push(`${a.codec} ${a.sampleRate / 1000} kHz ${a.channels === 1 ? 'mono' : a.channels === 2 ? 'stereo' : a.channels + ' ch'}`);
    const facts = this.el.querySelector('.facts');
    facts.textContent = parts.length ? `Published: ${parts.join(' · ')}` : 'Published: waiting for codec information';
    facts.title = `publishing since ${new Date(p.since).toLocaleString()}`;
  }

  start() {
    if (this.closed) return;
    this.connect().catch((e) => {
      if (this.pc) this.retry(`Could not start playback: ${e.message}`);
    });
  }

  async connect() {
    this.setState('connecting');
    const pc = new RTCPeerConnection();
    this.pc = pc;
    prefer(pc.addTransceiver('video', { direction: 'recvonly' }), (c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine ?? ''));
    prefer(pc.addTransceiver('audio', { direction: 'recvonly' }), (c) => c.mimeType === 'audio/opus');
    const stream = new MediaStream();
    this.video.srcObject = stream;
    pc.ontrack = (e) => {
      stream.addTrack(e.track);
      void this.video.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      this.setState(pc.connectionState);
      if (pc.connectionState === 'failed') this.retry('The connection failed.');
    };

    await pc.setLocalDescription();
    await iceGathered(pc, 1500); // one offer with every candidate; no trickle needed on a reachable gateway
    const url = `${base}/v2/sub/${enc(sdkAppId)}/${enc(roomId)}?SessionID=${enc(viewer.user)}&Publisher=${enc(this.userId)}`;
    let res;
    try {
      res = await fetch(url, { method: 'POST', headers: { ...authHeader(), 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    } catch {
      if (this.pc === pc) this.retry('Cannot reach the gateway.');
      return;
    }
    const loc = res.status === 201 ? res.headers.get('Location') : null;
    const resource = loc ? new URL(loc, url).href : '';
    const body = await res.text();
    if (this.pc !== pc) return void deleteResource(resource); // closed while the offer was on its way
    if (res.status !== 201) return this.retry(explain(res.status, body.trim() || `${res.status} ${res.statusText}`));
    this.resource = this.stats.resource = resource;
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
    } catch (e) {
      if (this.pc === pc) this.retry(`The gateway's answer did not fit: ${e.message}`);
      return;
    }
    this.stats.error = '';
    this.timers.stats = setInterval(() => void this.sample(), STATS_MS);
  }

  /** Ends this session and tries again after a pause; the next list refresh removes a publisher that left. */
  retry(reason) {
    this.teardown();
    if (this.closed) return;
    this.stats.error = reason;
    this.setState('error');
    this.showOverlay(`${reason} Retrying in ${RETRY_MS / 1000} s…`);
    this.timers.retry = setTimeout(() => this.start(), RETRY_MS);
  }

  teardown() {
    clearInterval(this.timers.stats);
    clearTimeout(this.timers.retry);
    this.pc?.close();
    this.pc = null;
    this.prev = null;
    deleteResource(this.resource);
    this.resource = this.stats.resource = '';
  }

  close() {
    this.closed = true;
    this.teardown();
    this.el.remove();
    delete view.tiles[this.userId];
  }

  setState(state) {
    this.stats.state = state;
    this.el.dataset.state = state;
    this.render();
  }

  showOverlay(text) {
    this.overlay.textContent = text;
    this.overlay.hidden = !text;
  }

  async sample() {
    const pc = this.pc;
    if (!pc) return;
    const report = await pc.getStats();
    if (this.pc !== pc) return;
    let video, audio, transport;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') video = s;
      else if (s.type === 'inbound-rtp' && s.kind === 'audio') audio = s;
      else if (s.type === 'transport') transport = s;
    });
    let pair = transport?.selectedCandidatePairId && report.get(transport.selectedCandidatePairId);
    if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });

    const now = performance.now();
    const bytes = (video?.bytesReceived ?? 0) + (audio?.bytesReceived ?? 0);
    const received = (video?.packetsReceived ?? 0) + (audio?.packetsReceived ?? 0);
    const lost = Math.max(0, (video?.packetsLost ?? 0) + (audio?.packetsLost ?? 0));
    const prev = this.prev;
    this.prev = { now, bytes, received, lost };

    const s = this.stats;
    s.width = video?.frameWidth ?? 0;
    s.height = video?.frameHeight ?? 0;
    s.fps = video?.framesPerSecond ?? 0;
    s.framesDecoded = video?.framesDecoded ?? 0;
    s.totalVideoFrames = this.video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
    s.rttMs = typeof pair?.currentRoundTripTime === 'number' ? pair.currentRoundTripTime * 1000 : null;
    s.lost = lost;
    if (prev) {
      s.kbps = Math.max(0, ((bytes - prev.bytes) * 8) / (now - prev.now)); // bits per ms = kbit/s
      const dLost = Math.max(0, lost - prev.lost);
      const dAll = dLost + Math.max(0, received - prev.received);
      s.lossPct = dAll ? (100 * dLost) / dAll : 0; // over the last interval
    }
    this.render();
  }

  render() {
    const s = this.stats;
    const rows = [
      ['Resolution', s.width ? `${s.width}×${s.height}` : '—'],
      ['FPS', s.fps ? String(Math.round(s.fps)) : '—'],
      ['Bitrate', s.kbps ? formatBitrate(s.kbps) : '—'],
      ['RTT', s.rttMs === null ? '—' : `${s.rttMs < 10 ? s.rttMs.toFixed(1) : Math.round(s.rttMs)} ms`],
      ['Loss', `${s.lossPct.toFixed(1)} %${s.lost ? ` (${s.lost})` : ''}`],
      ['State', s.state],
    ];
    const dl = this.el.querySelector('.stats');
    dl.replaceChildren(...rows.map(([k, v]) => {
      const group = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = v;
      group.append(dt, dd);
      return group;
    }));
    this.el.dataset.resolution = s.width ? `${s.width}x${s.height}` : '';
  }
}

function formatBitrate(kbps) {
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(2)} Mbit/s` : `${Math.round(kbps)} kbit/s`;
}

/** Offers only the codecs the gateway sends (plus RTX for video), when the browser lets us choose. */
function prefer(transceiver, wanted) {
  const kind = transceiver.receiver.track.kind;
  const codecs = globalThis.RTCRtpReceiver?.getCapabilities?.(kind)?.codecs;
  if (!codecs || !transceiver.setCodecPreferences) return;
  const main = codecs.filter(wanted);
  if (!main.length) return; // let the gateway say what is missing
  const rtx = kind === 'video' ? codecs.filter((c) => c.mimeType === 'video/rtx') : [];
  try {
    transceiver.setCodecPreferences([...main, ...rtx]);
  } catch {
    // an older browser: the default offer includes these codecs anyway
  }
}

function iceGathered(pc, maxMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, maxMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState !== 'complete') return;
      clearTimeout(timer);
      resolve();
    });
  });
}

/** keepalive lets the DELETE outlive the page (sendBeacon can only POST). */
function deleteResource(url) {
  if (url) void fetch(url, { method: 'DELETE', keepalive: true }).catch(() => {});
}

// ---- identity: from the URL or the form, kept in the URL so a reload keeps playing ----------------------

function begin(identity) {
  generation++;
  clearTimeout(pollTimer);
  for (const tile of tiles.values()) tile.close();
  tiles.clear();
  view.publishers = [];
  viewer = identity;
  userInput.value = identity.user;
  tokenInput.value = identity.token;
  if (!where) return say('This page lives at /play/{SdkAppId}/{RoomId}.', 'error');
  if (!identity.user || !identity.token) {
    return say('Enter your user ID and a UserSig or room token (JWT) for it to watch this room.');
  }
  say('Looking for publishers…');
  void refresh(generation);
}

function identityFromUrl() {
  const q = new URLSearchParams(location.search);
  return { user: (q.get('user') ?? '').trim(), token: (q.get('token') ?? '').trim() };
}

$('room').textContent = where ? `room ${roomId} · app ${sdkAppId}` : '';
document.title = where ? `${roomId} · roomgate` : document.title;

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  const identity = { user: userInput.value.trim(), token: tokenInput.value.trim() };
  const q = new URLSearchParams(location.search);
  q.set('user', identity.user);
  q.set('token', identity.token);
  history.replaceState(null, '', `${location.pathname}?${q}`);
  begin(identity);
});

// Leaving the page ends every WHEP session; coming back from the back/forward cache starts them again.
addEventListener('pagehide', () => {
  clearTimeout(pollTimer);
  generation++;
  for (const tile of tiles.values()) tile.close();
  tiles.clear();
});
addEventListener('pageshow', (e) => {
  if (e.persisted) begin(viewer);
});

begin(identityFromUrl());
