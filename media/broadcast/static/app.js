// Watch page: a live grid of every stream, updated from /api/streams as streamers are relegated and spawned.
// Names come from LLMs and are inserted as text only. Each page has one viewer id, sent with every HLS
// request; the server counts it as a real viewer of a stream while it keeps fetching that stream's new
// segments (media/broadcast/viewers.py), at most one id per address and stream by default.
"use strict";
(function () {
  const VIEWER = ((self.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Math.random()).slice(2))
    .replace(/[^A-Za-z0-9_-]/g, "").slice(0, 64);
  const tiles = new Map(); // id -> {el, video, hls, status, retry}
  const withViewer = (url) => url + (url.includes("?") ? "&" : "?") + "viewer=" + VIEWER;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function play(tile, url) {
    const video = tile.video;
    if (self.Hls && Hls.isSupported()) {
      const hls = new Hls({
        liveSyncDurationCount: 2,
        manifestLoadingMaxRetry: 2,
        xhrSetup: (xhr, u) => { xhr.open("GET", withViewer(u), true); },
      });
      tile.hls = hls;
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        hls.destroy();
        tile.hls = null;
        if (tile.status === "live") tile.retry = setTimeout(() => play(tile, url), 2000); // not published yet
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = withViewer(url);
      video.play().catch(() => {});
    }
  }

  function makeTile(row) {
    const t = { el: el("article", "tile"), status: row.status, hls: null, retry: null };
    t.video = el("video");
    t.video.muted = true;
    t.video.autoplay = true;
    t.video.playsInline = true;
    t.video.dataset.stream = row.id;
    const meta = el("div", "meta");
    t.name = el("span", "name");
    t.badge = el("span", "badge");
    t.ern = el("span", "ern");
    t.rank = el("span", "rank");
    t.real = el("span", "real");
    meta.append(t.name, t.badge, t.rank, t.ern, t.real);
    t.el.append(t.video, meta);
    t.el.dataset.stream = row.id;
    if (row.playlist) play(t, row.playlist);
    return t;
  }

  function update(t, row) {
    t.name.textContent = row.name;
    t.name.title = row.name;
    t.badge.textContent = row.status;
    t.rank.textContent = row.rank != null ? "#" + row.rank : "";
    t.ern.textContent = "ERN " + Number(row.ern).toFixed(1);
    t.real.textContent = row.real_viewers + " real";
    if (row.status !== t.status) {
      t.status = row.status;
      if (t.retry) clearTimeout(t.retry);
    }
    t.el.classList.toggle("relegated", row.status !== "live");
    const home = document.getElementById(row.status === "live" ? "live" : "relegated");
    home.appendChild(t.el); // appending in row order keeps the grid sorted by rank
  }

  function render(rows) {
    const seen = new Set();
    for (const row of rows) {
      seen.add(row.id);
      let t = tiles.get(row.id);
      if (!t) { t = makeTile(row); tiles.set(row.id, t); }
      update(t, row);
    }
    for (const [id, t] of tiles) {
      if (!seen.has(id)) { if (t.hls) t.hls.destroy(); t.el.remove(); tiles.delete(id); }
    }
    const live = rows.filter((r) => r.status === "live").length;
    document.getElementById("summary").textContent = live + " live, " + (rows.length - live) + " relegated";
    document.getElementById("relegated-title").hidden = rows.length === live;
  }

  async function poll() {
    try {
      const r = await fetch("/api/streams", { cache: "no-store" });
      if (r.ok) render(await r.json());
    } catch (e) { /* server restarting: try again */ }
    setTimeout(poll, 2000);
  }
  self.arenaTiles = tiles; // for tests and debugging
  poll();
})();
