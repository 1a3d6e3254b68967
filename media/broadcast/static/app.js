// Watch page: a live grid of every stream, updated from /api/streams as streamers are relegated and spawned.
// Names come from LLMs and are inserted as text only. Each page has one viewer id, sent with every HLS
// request; the server counts it as a real viewer of a stream while it keeps fetching that stream's new
// segments (media/broadcast/viewers.py), at most one id per address and stream by default.
// Chat: each tile has a panel; messages are POSTed as JSON to /api/chat/<stream> and every message of every
// stream is polled from /api/chat?after=N. Names and texts (viewers', simulated viewers', streamers') are
// inserted with textContent only, never as HTML.
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
    const about = el("div", "about");
    t.persona = el("p", "persona");
    t.prompt = el("p", "prompt");
    t.said = el("p", "said");
    about.append(t.persona, t.prompt, t.said);
    t.caption = el("p", "caption"); // the spoken line playing now (captions from /api/streams)
    t.caption.setAttribute("aria-live", "polite");
    t.face = el("img", "face");
    t.face.alt = "";
    t.face.hidden = true;
    t.cues = [];
    meta.prepend(t.face);
    t.el.append(t.video, t.caption, meta, about, makeChat(t, row.id));
    t.el.dataset.stream = row.id;
    if (row.playlist) play(t, row.playlist);
    return t;
  }

  function makeChat(t, id) {
    const box = el("section", "chat");
    box.setAttribute("aria-label", "chat");
    t.log = el("ol", "log");
    const form = el("form");
    const input = el("input");
    input.name = "text";
    input.maxLength = 280;
    input.placeholder = "say something (or !style a prompt)";
    const send = el("button", "send", "send");
    send.type = "submit";
    const style = el("button", "style", "style");
    style.type = "button";
    style.title = "ask the streamer to show this";
    t.error = el("div", "error");
    form.append(input, send, style);
    form.addEventListener("submit", (e) => { e.preventDefault(); postChat(t, id, input.value, input); });
    style.addEventListener("click", () => postChat(t, id, "!style " + input.value, input));
    box.append(t.log, form, t.error);
    return box;
  }

  async function postChat(t, id, text, input) {
    const name = document.getElementById("chat-name").value;
    t.error.textContent = "";
    try {
      const r = await fetch("/api/chat/" + encodeURIComponent(id), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name, text: text, viewer: VIEWER }),
      });
      if (r.ok) { input.value = ""; pollChat(); }
      else t.error.textContent = r.status === 429 ? "slow down: too many messages" : "not sent (" + r.status + ")";
    } catch (e) { t.error.textContent = "not sent: server unreachable"; }
  }

  let chatAfter = 0;
  let chatBusy = false;
  function showMessage(m) {
    const t = tiles.get(m.stream_id);
    if (!t) return;
    const li = el("li", "src-" + m.source + " kind-" + m.kind);
    li.dataset.id = m.id;
    const prefix = m.kind === "style_request" ? "requests style: " : "";
    li.append(el("span", "who", m.name), el("span", "text", prefix + m.text));
    t.log.appendChild(li);
    while (t.log.children.length > 100) t.log.firstChild.remove();
    t.log.scrollTop = t.log.scrollHeight;
  }
  async function pollChat() {
    if (chatBusy) return;
    chatBusy = true;
    try {
      const r = await fetch("/api/chat?after=" + chatAfter, { cache: "no-store" });
      if (r.ok) for (const m of await r.json()) { chatAfter = Math.max(chatAfter, m.id); showMessage(m); }
    } catch (e) { /* try again */ }
    chatBusy = false;
  }

  function renderLeague(rows) {
    const body = document.querySelector("#league tbody");
    body.replaceChildren();
    for (const row of rows) {
      const tr = el("tr");
      tr.dataset.stream = row.id;
      for (const v of [row.rank != null ? row.rank : "", row.name, Number(row.ern).toFixed(1), row.real_viewers,
        row.status]) tr.append(el("td", null, String(v)));
      body.appendChild(tr);
    }
  }

  // Captions carry wall-clock times; hls.js's playingDate (from #EXT-X-PROGRAM-DATE-TIME) is the wall time of
  // the frame on screen, so a line shows while it is heard. Without it, the newest line shows for its length.
  function showCaption(t) {
    const played = t.hls && t.hls.playingDate ? t.hls.playingDate.getTime() / 1000 : null;
    const now = Date.now() / 1000;
    let text = "";
    for (const c of t.cues) {
      if (played !== null ? (c.at <= played && played < c.until + 0.5) : (c.until > now - 4 && c.at < now)) text = c.text;
    }
    if (t.caption.textContent !== text) t.caption.textContent = text;
  }

  function update(t, row) {
    t.cues = Array.isArray(row.captions) ? row.captions : [];
    if (row.avatar && t.face.hidden) { t.face.src = row.avatar; t.face.hidden = false; }
    t.persona.textContent = row.persona || "";
    t.prompt.textContent = row.prompt ? "showing: " + row.prompt : "";
    t.said.textContent = row.said ? "said: \u201c" + row.said + "\u201d" : "";
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
    renderLeague(rows);
    const live = rows.filter((r) => r.status === "live").length;
    document.getElementById("summary").textContent = live + " live, " + (rows.length - live) + " relegated";
    document.getElementById("relegated-title").hidden = rows.length === live;
  }

  async function poll() {
    try {
      const r = await fetch("/api/streams", { cache: "no-store" });
      if (r.ok) { render(await r.json()); pollChat(); }
    } catch (e) { /* server restarting: try again */ }
    setTimeout(poll, 2000);
  }
  setInterval(pollChat, 700);
  setInterval(() => { for (const t of tiles.values()) showCaption(t); }, 250);
  self.arenaTiles = tiles; // for tests and debugging
  poll();
})();
