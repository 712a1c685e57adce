/*
 * livefeed widget: a live scoreboard or stock ticker for any web page.
 *
 *   <script src="https://HOST/widget.js" data-kind="scoreboard" data-topic="nba/*"></script>
 *   <script src="https://HOST/widget.js" data-kind="ticker" data-topic="stocks/*"></script>
 *   <script src="https://HOST/widget.js" data-kind="tape" data-topic="stocks/*"></script>
 *
 * A ticker lists its symbols in aligned columns (symbol, price, change,
 * change %); a tape is one line of them scrolling sideways, which stops
 * while the pointer is on it or it has the focus, and stands still (and
 * wraps) for visitors who ask for reduced motion. A game shows each
 * team's colour, logo and abbreviation when its events carry them
 * (home_color, home_logo, home_abbr...): the abbreviation where the
 * widget is narrow, the name where it is wide.
 *
 * data-topic: a topic, a prefix such as "nba/*", or "*" (several separated
 * by spaces). data-target (optional): a CSS selector of the element to
 * render into; by default the widget appears where the script tag is.
 *
 * The widget renders the current state at once (the feed sends the latest
 * event of every topic first), then updates live. The widgets of one page
 * share one EventSource per server. When the connection drops it shows
 * "reconnecting…"; the browser reconnects with Last-Event-ID and the server
 * replays exactly the missed events. On a site whose origin the server
 * does not allow (cors.allowed_origins) the widget says so, and how to
 * allow it, instead (it asks GET /api/origin when its stream fails). Feed
 * text is only ever written with textContent, never parsed as HTML.
 *
 * A widget whose data-topic is not a valid list of patterns shows what is
 * wrong in its own box and does not connect, so it cannot break the
 * others. A stream takes at most 64 patterns (the server's limit); widgets
 * needing more between them share two or more streams.
 *
 * Delivery:
 *   data-conflate="1s"           at most one update per game or symbol every
 *                                interval (100ms to 1h), always the latest:
 *                                enough for a person, and lighter on a
 *                                phone's battery and data;
 *   data-viewers                 "12,345 watching" beside each game or
 *                                symbol ("fewer than 50 watching" below
 *                                the server's feed.viewers_min), read
 *                                from /api/viewers every 5 s, or every
 *                                data-viewers="30s" (2s to 10m); nothing
 *                                where the server tells the public no
 *                                figure (feed.viewers not "public");
 * A widget whose topics the server delays (a free tier of delayed prices)
 * says so by itself: "Delayed 15 min" in place of "live". The server
 * delays a stream as a whole by the longest delay of its topics, so the
 * widgets of a page open one stream per delay: those of real-time topics
 * are never held back by a delayed one beside them.
 *
 * Layout:
 *   data-max-height="20rem"      at most this tall (a CSS length, or a
 *                                number of pixels); the list scrolls;
 *   data-compact                 one line per game, smaller type;
 *   data-label="Tonight"         the widget's title (default "Scores" or
 *                                "Markets");
 *   data-theme="dark"            light (the default), dark, or auto: the
 *                                host page's color-scheme if it names one
 *                                only, else the visitor's preference
 *                                (prefers-color-scheme). The host element
 *                                says which is in use (data-scheme), and
 *                                custom properties (--livefeed-bg, ...)
 *                                restyle it (web/docs/widgets.md).
 * Each game shows its league and date when its topic has them
 * ("nba/2026-11-21/lal-bos": NBA · 21 Nov), and games with the same teams
 * show their topic too, so they can be told apart. A running game clock
 * (clock_running "down" or "up") counts from the time of the game's
 * latest event. An "archive" event takes its topic out of the widget.
 *
 * A game or symbol whose publisher has gone silent (the server's
 * "stale" notice, for topics of its feed.stale) shows "⚠ data delayed"
 * and has a data-stale attribute (when it was last heard of) until it is
 * fresh again: a "fresh" notice, or any new event of it.
 *
 * Each event a widget receives is also dispatched on its element as a
 * "livefeed:update" DOM event (detail: id, topic, type, data, stale: true
 * for an event older than one shown), a "reset" from the server as
 * "livefeed:reset", and the server's notices of its topics as
 * "livefeed:stale" (detail: topic, since, after) and "livefeed:fresh"
 * (detail: topic, at).
 *
 * Private topics need a subscriber token:
 *   data-token="eyJ..."          a fixed token;
 *   data-token-url="/feed-token" the site's own endpoint answering with a
 *                                short-lived token (the text of it, or JSON
 *                                {"token": "..."}), fetched with the page's
 *                                cookies before connecting and again before
 *                                the token expires, so the site keeps its
 *                                key on its server;
 *   data-credentials             send livefeed's cookies (a livefeed_token
 *                                cookie the site set for the feed's domain).
 * When the server ends a stream because its token expired, the widget
 * reconnects with the fresh token from where it was, missing nothing.
 * Widgets share a stream only with widgets of the same token settings.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src) return;
  var origin = new URL(script.src, location.href).origin;
  // kind is "scoreboard" (the default), "ticker" or "tape"; the ticker
  // and the tape show prices.
  var kind = { ticker: "ticker", tape: "tape" }[script.getAttribute("data-kind")] || "scoreboard";
  var priced = kind !== "scoreboard";
  var patterns = (script.getAttribute("data-topic") || "*").split(/\s+/).filter(Boolean);
  // MAX_PATTERNS is the most topic patterns one stream may ask for
  // (store.MaxPatterns on the server).
  var MAX_PATTERNS = 64;
  var problem = checkPatterns(patterns);
  var auth = {
    token: script.getAttribute("data-token") || "",
    url: script.getAttribute("data-token-url") || "",
    credentials: script.hasAttribute("data-credentials")
  };
  if (auth.url) auth.url = new URL(auth.url, location.href).href;
  var authKey = auth.token + "\n" + auth.url + "\n" + auth.credentials;
  var conflate = (script.getAttribute("data-conflate") || "").trim();
  if (!problem) problem = checkConflate(conflate);
  // viewersEvery is how often the widget asks how many watch its topics
  // (data-viewers), in ms; 0: it does not show them.
  var viewersEvery = 0;
  if (!problem && script.hasAttribute("data-viewers")) {
    var every = checkViewers((script.getAttribute("data-viewers") || "").trim());
    if (typeof every === "string") problem = every; else viewersEvery = every;
  }

  // ---- the shared connection ------------------------------------------

  // One group of widgets shares one EventSource. Widgets added after it
  // opened (a script inserted later), or whose patterns would take it over
  // MAX_PATTERNS, start a group of their own.
  var registry = (window.__livefeed = window.__livefeed || {});
  var groupKey = origin + "\n" + authKey + "\n" + conflate;
  var groups = (registry[groupKey] = registry[groupKey] || []);
  var group = null;
  if (!problem) {
    group = groups[groups.length - 1];
    if (!group || group.source || group.split || topicsOf(group.widgets.concat([{ patterns: patterns }])).length > MAX_PATTERNS) {
      group = newGroup(auth, auth.token);
      groups.push(group);
      // Open once the page's other widget scripts have registered.
      var g = group;
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", function () { connect(g); });
      } else {
        setTimeout(function () { connect(g); }, 0);
      }
    }
  }

  function newGroup(a, tok) {
    return { widgets: [], source: null, lastId: "", retryMs: 1000, auth: a, token: tok, renewal: null, conflate: conflate, delay: "" };
  }

  // topicsOf returns the patterns a stream for widgets asks for: each as
  // the widgets give it (the server reads "*" among others as "*"), so
  // that the server can say the delay of each.
  function topicsOf(widgets) {
    var topics = [];
    widgets.forEach(function (w) {
      w.patterns.forEach(function (p) { if (topics.indexOf(p) < 0) topics.push(p); });
    });
    return topics;
  }

  // checkConflate returns what is wrong with data-conflate, by the
  // server's rules for /events?conflate=, or "" if nothing is: empty, or
  // a duration with units ("1s", "500ms", "1m30s") from 100ms to 1h.
  function checkConflate(v) {
    if (!v) return "";
    var ms = durationMs(v);
    if (isNaN(ms)) return "data-conflate \u201c" + v + "\u201d is not an interval such as \u201c1s\u201d or \u201c500ms\u201d";
    if (ms < 100 || ms > 3600000) return "data-conflate \u201c" + v + "\u201d is out of range: use 100ms to 1h";
    return "";
  }

  // checkViewers returns how often to ask for the audience (ms) by
  // data-viewers, or what is wrong with it: empty (every 5 s), or an
  // interval from 2s (the server counts every 2 s: asking more often
  // reads the same figures) to 10m.
  function checkViewers(v) {
    if (!v) return 5000;
    var ms = durationMs(v);
    if (isNaN(ms)) return "data-viewers \u201c" + v + "\u201d is not an interval such as \u201c10s\u201d";
    if (ms < 2000 || ms > 600000) return "data-viewers \u201c" + v + "\u201d is out of range: use 2s to 10m";
    return ms;
  }

  // durationMs reads an interval with units ("1s", "500ms", "1m30s"),
  // or returns NaN.
  function durationMs(v) {
    var ms = 0, rest = v.replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, function (all, n, unit) {
      ms += Number(n) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[unit];
      return "";
    });
    return rest !== "" || !/\d/.test(v) ? NaN : ms;
  }

  // checkPatterns returns what is wrong with a widget's patterns, by the
  // server's rules for /events?topic=, or "" if nothing is: "*", a topic,
  // or a prefix ending in "/*"; a topic is 1 to 128 bytes of "/"-separated
  // segments of A-Z a-z 0-9 . _ -, none of them "." or "..".
  function checkPatterns(pats) {
    if (pats.length > MAX_PATTERNS) return pats.length + " topic patterns; one widget may have at most " + MAX_PATTERNS;
    for (var i = 0; i < pats.length; i++) {
      var p = pats[i];
      if (p === "*") continue;
      var topic = p.slice(-2) === "/*" ? p.slice(0, -2) : p;
      if (topic.length < 1 || topic.length > 128) return "\u201c" + p + "\u201d: a topic is 1 to 128 characters long";
      var segs = topic.split("/");
      for (var j = 0; j < segs.length; j++) {
        var seg = segs[j];
        if (!/^[A-Za-z0-9._-]+$/.test(seg) || seg === "." || seg === "..") {
          return "\u201c" + p + "\u201d is not a topic pattern: use segments of A-Z a-z 0-9 . _ - separated by /, optionally ending in /*";
        }
      }
    }
    return "";
  }

  // tokenExpiry returns when a JWT expires (ms since the epoch), read from
  // its claims without checking them (the server does), or 0.
  function tokenExpiry(tok) {
    try {
      var part = tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      var claims = JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
      return typeof claims.exp === "number" ? claims.exp * 1000 : 0;
    } catch (err) { return 0; }
  }

  // fetchToken asks the site's data-token-url for a fresh token, then
  // plans the next fetch before it expires.
  function fetchToken(g) {
    return fetch(g.auth.url, { credentials: "same-origin", cache: "no-store" }).then(function (resp) {
      if (!resp.ok) throw new Error("data-token-url answered " + resp.status);
      return resp.text();
    }).then(function (body) {
      var tok = body.trim();
      if (tok.charAt(0) === "{") tok = String(JSON.parse(tok).token || "");
      g.token = tok;
      clearTimeout(g.renewal);
      var exp = tokenExpiry(tok);
      if (exp) {
        // Well before it expires: a fifth of its life or 30 s ahead,
        // whichever is less, and never more often than every 2 s.
        var life = exp - Date.now();
        g.renewal = setTimeout(function () { fetchToken(g).catch(function () {}); }, Math.max(life - Math.min(life / 5, 30000), 2000));
      }
      return tok;
    });
  }

  function connect(g) {
    if (g.auth.url && !g.token) {
      // No token yet (or it was used up): fetch one first; on failure
      // connect without, to the public topics, and try again later.
      fetchToken(g).then(function () { open(g); }, function () {
        open(g);
      });
      return;
    }
    open(g);
  }

  // reconnect replaces g's stream with a new one from where it was, after
  // fetching a fresh token if its own is used up.
  function reconnect(g, freshToken) {
    if (g.source) g.source.close();
    g.source = null;
    if (freshToken && g.auth.url) {
      var exp = tokenExpiry(g.token);
      if (!exp || exp <= Date.now()) g.token = "";
    }
    connect(g);
  }

  function open(g) {
    if (g.refused) return; // this page's origin may not read the feed
    var topics = topicsOf(g.widgets);
    var url = origin + "/events?" + topics.map(function (t) { return "topic=" + encodeURIComponent(t); }).join("&");
    if (g.conflate) url += "&conflate=" + encodeURIComponent(g.conflate);
    if (g.token) url += "&token=" + encodeURIComponent(g.token);
    if (g.lastId) {
      // Only after the browser gave up (see onerror), or for a stream
      // with a new token: a new EventSource cannot send Last-Event-ID, so
      // the position goes in the query.
      url += "&lastEventId=" + encodeURIComponent(g.lastId);
    }
    var es = new EventSource(url, { withCredentials: g.auth.credentials });
    g.source = es;
    watchAudience(g);
    g.delay = ""; // until the stream says otherwise (livefeed.delayed)
    es.onopen = function () {
      g.retryMs = 1000;
      // A new connection (this stream's first, or the browser's own
      // reconnect) is told again, after its snapshot or replay, which of
      // its topics are stale: the marks of the old one go first. The
      // open event comes before any event of the connection.
      each(g, function (w) { w.setState("live", g.delay); w.liveness(null); });
    };
    es.onerror = function () {
      each(g, function (w) { w.setState("reconnecting"); });
      if (origin !== location.origin) askOrigin(g);
      if (es.readyState === EventSource.CLOSED) {
        // The browser reconnects by itself after a network error (sending
        // Last-Event-ID). It gives up only on an error status, e.g. from a
        // proxy while the server restarts: then start again from the last
        // event seen, backing off up to half a minute.
        setTimeout(function () { if (g.source === es) reconnect(g, true); }, g.retryMs);
        g.retryMs = Math.min(g.retryMs * 2, 30000);
      }
    };
    var onEvent = function (e) {
      if (g.source !== es) return; // a stream being replaced
      var env;
      try { env = JSON.parse(e.data); } catch (err) { return; }
      if (!env || typeof env.topic !== "string" || !env.data) return;
      if (e.lastEventId) g.lastId = e.lastEventId;
      each(g, function (w) { if (matches(w.patterns, env.topic)) w.update(env); });
    };
    es.addEventListener("score", onEvent);
    es.addEventListener("tick", onEvent);
    es.addEventListener("archive", onEvent);
    // A watched topic went stale (its publisher fell silent), or is
    // fresh again. These notices have no id: the position stays.
    var onLiveness = function (e) {
      if (g.source !== es) return;
      var info;
      try { info = JSON.parse(e.data); } catch (err) { return; }
      if (!info || typeof info.topic !== "string") return;
      each(g, function (w) { if (matches(w.patterns, info.topic)) w.liveness(e.type, info); });
    };
    es.addEventListener("stale", onLiveness);
    es.addEventListener("fresh", onLiveness);
    // The token ran out: the server ends the stream. Reconnect at once
    // with the fresh token fetched meanwhile (or a new one).
    es.addEventListener("expired", function (e) {
      if (e.lastEventId) g.lastId = e.lastEventId;
      if (g.auth.url) reconnect(g, true);
    });
    // The token was refused: public events follow. With a token URL, ask
    // it for another one after a while.
    es.addEventListener("unauthorized", function (e) {
      if (e.lastEventId) g.lastId = e.lastEventId;
      if (!g.auth.url) return;
      var wait = g.retryMs;
      g.retryMs = Math.min(g.retryMs * 2, 30000);
      setTimeout(function () { if (g.source === es) { g.token = ""; reconnect(g, false); } }, wait);
    });
    es.addEventListener("reset", function (e) {
      var info = {};
      try { info = JSON.parse(e.data); } catch (err) { /* keep {} */ }
      each(g, function (w) { w.reset(info); });
    });
    // The stream is delayed (it comes first): say so, and if its widgets'
    // topics have different delays, give each delay a stream of its own,
    // so that real-time topics are not held back by delayed ones.
    es.addEventListener("livefeed.delayed", function (e) {
      if (g.source !== es) return;
      var info;
      try { info = JSON.parse(e.data); } catch (err) { return; }
      var delays = info.topics || {}, byDelay = {}, count = 0;
      g.widgets.forEach(function (w) {
        var d = 0;
        w.patterns.forEach(function (p) { d = Math.max(d, p in delays ? delays[p] : info.delay_ms); });
        if (!byDelay[d]) { byDelay[d] = []; count++; }
        byDelay[d].push(w);
      });
      if (count > 1 && !g.split) {
        es.close();
        g.source = null;
        Object.keys(byDelay).forEach(function (d, i) {
          var ng = i === 0 ? g : newGroup(g.auth, g.token);
          ng.widgets = byDelay[d];
          ng.lastId = g.lastId;
          ng.split = true; // no more splitting, no more widgets
          if (ng !== g) groups.push(ng);
          connect(ng);
        });
        return;
      }
      g.delay = typeof info.delay === "string" ? info.delay : "";
      each(g, function (w) { w.setState("live", g.delay); });
    });
    // The end of the snapshot: the stream's position is now the newest
    // event there was when it opened, which a new EventSource resumes
    // from (after an empty snapshot it is the only position there is).
    es.addEventListener("livefeed.position", function (e) {
      if (g.source === es && e.lastEventId) g.lastId = e.lastEventId;
    });
  }

  // askOrigin asks the server, when a stream failed, whether this page's
  // origin may read the feed at all: the browser refuses a stream the
  // server does not allow this origin (CORS) without telling the page,
  // whose widgets would show "reconnecting…" for ever. Refused, the
  // group's widgets stop and say why; allowed (the network or the server
  // is down), they go on reconnecting. It asks until it has an answer.
  function askOrigin(g) {
    if (g.originKnown || g.asking) return;
    g.asking = true;
    fetch(origin + "/api/origin", { credentials: "omit", cache: "no-store" }).then(function (resp) {
      g.originKnown = true;
      return resp.json();
    }).then(function (ans) {
      if (!ans || ans.allowed !== false || typeof ans.origin !== "string") return;
      g.refused = true;
      if (g.source) g.source.close();
      g.source = null;
      clearTimeout(g.renewal);
      each(g, function (w) { w.refused(ans.origin); });
    }).catch(function () { /* no answer: ask at the next failure */ }).then(function () {
      g.asking = false;
    });
  }

  // ---- the audience ----------------------------------------------------

  // watchAudience asks the server, for the widgets of g that show their
  // audience (data-viewers), how many watch each of their topics
  // (GET /api/viewers, with g's token): at once, then every interval (the
  // shortest its widgets ask for), but not while the page is hidden —
  // a tab in the background asks nothing, and asks at once when shown
  // again. One request a group, however many widgets, and nothing per
  // event. Only a figure the server gives is shown: it gives none unless
  // its feed.viewers tells the public, and says so with a 404, after
  // which the group asks no more (the setting changes with a restart).
  // The browser's cache keeps the public's answers until the server's
  // next count and revalidates them (ETag): most asks cost a 304.
  function watchAudience(g) {
    if (g.audience) return;
    var every = 0;
    g.widgets.forEach(function (w) { if (w.viewersEvery && (!every || w.viewersEvery < every)) every = w.viewersEvery; });
    if (!every) return;
    var a = (g.audience = { timer: 0, asking: false, told: true });
    var ask = function () {
      clearTimeout(a.timer);
      a.timer = 0;
      if (g.refused || a.asking || !a.told || document.hidden) return;
      var shown = g.widgets.filter(function (w) { return w.viewersEvery; });
      var url = origin + "/api/viewers?" + topicsOf(shown).map(function (t) { return "topic=" + encodeURIComponent(t); }).join("&");
      if (g.token) url += "&token=" + encodeURIComponent(g.token);
      a.asking = true;
      fetch(url, { credentials: g.auth.credentials ? "include" : "omit" }).then(function (resp) {
        if (resp.status === 404) a.told = false;
        if (!resp.ok) throw new Error("/api/viewers answered " + resp.status);
        return resp.json();
      }).then(function (ans) {
        var figures = new Map();
        (ans && Array.isArray(ans.topics) ? ans.topics : []).forEach(function (t) {
          if (t && typeof t.topic === "string") figures.set(t.topic, watchingText(t));
        });
        shown.forEach(function (w) { w.audience(figures); });
      }).catch(function () { /* keep the figures shown: asked again */ }).then(function () {
        a.asking = false;
        if (!document.hidden && !g.refused && a.told) a.timer = setTimeout(ask, every);
      });
    };
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        clearTimeout(a.timer);
        a.timer = 0;
      } else if (!a.timer) {
        ask();
      }
    });
    ask();
  }

  // watchingText says how many watch a topic, from its entry of
  // /api/viewers: "12,345 watching", "fewer than 50 watching" (the public
  // figure below feed.viewers_min), or "" where the server gives none.
  // Only whole numbers are shown.
  function watchingText(t) {
    var count = function (v) { return typeof v === "number" && isFinite(v) && v >= 0 && Math.floor(v) === v; };
    if (count(t.viewers)) return t.viewers.toLocaleString() + " watching";
    if (count(t.viewers_below)) return "fewer than " + t.viewers_below.toLocaleString() + " watching";
    return "";
  }

  function each(g, fn) { g.widgets.forEach(fn); }

  function matches(pats, topic) {
    for (var i = 0; i < pats.length; i++) {
      var p = pats[i];
      if (p === "*" || p === topic) return true;
      if (p.slice(-2) === "/*" && topic.indexOf(p.slice(0, -1)) === 0) return true;
    }
    return false;
  }

  // ---- the widget ---------------------------------------------------

  var host = document.createElement("div");
  host.className = "livefeed-widget livefeed-" + kind;
  host.setAttribute("data-state", "connecting");
  var theme = script.getAttribute("data-theme");
  if (theme !== "dark" && theme !== "auto") theme = "light";
  host.setAttribute("data-theme", theme);
  var target = script.getAttribute("data-target");
  var parent = target && document.querySelector(target);
  if (parent) parent.appendChild(host); else script.insertAdjacentElement("afterend", host);
  followScheme();

  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  styleInto(root);
  var frame = el("div", "frame " + kind);
  if (script.hasAttribute("data-compact")) frame.classList.add("compact");
  var head = el("div", "head");
  var label = script.getAttribute("data-label");
  var title = el("span", "title", label ? label.slice(0, 100) : priced ? "Markets" : "Scores");
  title.title = title.textContent;
  var state = el("span", "state", "connecting…");
  state.setAttribute("role", "status");
  head.append(title, state);
  var list = el("div", "list" + (kind === "ticker" ? " ticks" : ""));
  var maxHeight = cssLength(script.getAttribute("data-max-height"));
  if (maxHeight && kind !== "tape") {
    list.style.maxHeight = maxHeight;
    list.classList.add("scrolls");
  }
  var empty = el("div", "empty", priced ? "No prices yet" : "No games yet");
  list.appendChild(empty);
  // A tape's symbols are in a track that moves: twice, the second copy
  // following the first, so that moving the track by the width of one
  // copy loops without a seam. The list can take the focus, which stops
  // it, as hovering does.
  var track = null, copies = null;
  if (kind === "tape") {
    track = el("div", "track");
    var firsts = el("div", "group"), seconds = el("div", "group copy");
    seconds.setAttribute("aria-hidden", "true");
    track.append(firsts, seconds);
    copies = [firsts, seconds];
    list.appendChild(track);
    list.tabIndex = 0;
    list.setAttribute("aria-label", "Prices (hover or focus to pause)");
  }
  frame.append(head, list);
  root.appendChild(frame);

  var items = new Map(); // topic → { id, nodes, data, time, matchup, price }
  // staleness holds the stale topics of this widget's patterns, each with
  // its notice ({since, after}), also those it shows no row of yet: a row
  // that appears later is marked at once.
  var staleness = new Map();
  // watching holds what the server last said of the audience of each
  // topic ("12 watching"), also of topics the widget shows no row of yet.
  var watching = new Map();
  var collator = new Intl.Collator(undefined, { numeric: true });
  var wanted = priced ? "tick" : "score";
  var reducedMotion = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : { matches: false };

  if (problem) {
    // Only this widget is wrong: it says so and stays out of the stream.
    host.setAttribute("data-state", "error");
    state.textContent = "error";
    state.className = "state error";
    empty.textContent = (/^data-(conflate|viewers)/.test(problem) ? "This widget's " : "This widget's data-topic is not valid: ") + problem + ".";
    empty.className = "empty problem";
    return;
  }

  if (kind === "tape" && window.ResizeObserver) {
    // The tape moves at one speed however many symbols it has, and only
    // when they do not all fit.
    new ResizeObserver(fitTape).observe(copies[0]);
    new ResizeObserver(fitTape).observe(list);
  }

  group.widgets.push({
    patterns: patterns,
    viewersEvery: viewersEvery,
    // audience shows the figures of the widget's rows (figures: topic →
    // text, see watchingText); a topic not among them shows none.
    audience: function (figures) {
      watching = figures;
      items.forEach(function (item, topic) { showWatching(item, figures.get(topic) || ""); });
    },
    setState: function (s, delay) {
      host.setAttribute("data-state", s);
      if (delay) host.setAttribute("data-delay", delay); else host.removeAttribute("data-delay");
      state.textContent = s === "live" ? (delay ? "Delayed " + delay : "live") : s === "reconnecting" ? "reconnecting…" : "connecting…";
      state.className = "state " + s + (s === "live" && delay ? " delayed" : "");
    },
    update: function (env) {
      var known = items.get(env.topic);
      if (!known || known.id < env.id) {
        // Any newer event of a topic says it is fresh (its fresh notice
        // follows).
        if (staleness.delete(env.topic) && known) markStale(known, null);
      }
      if (env.type === "archive") {
        var gone = items.get(env.topic);
        if (gone && gone.id < env.id) {
          gone.nodes.forEach(function (n) { n.remove(); });
          items.delete(env.topic);
          if (!items.size) list.insertBefore(empty, list.firstChild);
          markTwins();
        }
        return;
      }
      if (env.type !== wanted) return;
      var item = items.get(env.topic);
      var stale = !!item && item.id > env.id;
      if (!stale) render(env, item);
      host.dispatchEvent(new CustomEvent("livefeed:update", {
        bubbles: true,
        detail: { id: env.id, topic: env.topic, type: env.type, data: env.data, stale: stale }
      }));
    },
    // refused says that this page's origin may not read the feed, and
    // how its operator allows it (see askOrigin).
    refused: function (site) {
      host.setAttribute("data-state", "refused");
      state.textContent = "not allowed";
      state.className = "state error";
      items.forEach(function (item) { item.node.remove(); });
      items.clear();
      empty.textContent = "This site (" + site + ") is not allowed to show this feed. To allow it, the operator of livefeed adds " +
        site + " to cors.allowed_origins in livefeed's config.toml.";
      empty.className = "empty problem";
      list.appendChild(empty);
    },
    // liveness applies a "stale" or "fresh" notice of a topic of this
    // widget's, and dispatches it on the widget's element as
    // "livefeed:stale" or "livefeed:fresh"; with no kind, it forgets
    // every stale mark (a new connection, which is told again).
    liveness: function (kind, info) {
      if (!kind) {
        staleness.forEach(function (n, topic) { if (items.has(topic)) markStale(items.get(topic), null); });
        staleness.clear();
        return;
      }
      var notice = kind === "stale" ? { since: text(info.since), after: text(info.after) } : null;
      if (notice) staleness.set(info.topic, notice); else staleness.delete(info.topic);
      if (items.has(info.topic)) markStale(items.get(info.topic), notice);
      var detail = { topic: info.topic };
      if (notice) { detail.since = notice.since; detail.after = notice.after; } else { detail.at = text(info.at); }
      host.dispatchEvent(new CustomEvent("livefeed:" + kind, { bubbles: true, detail: detail }));
    },
    reset: function (info) {
      // The server lost our position: the snapshot that follows is the
      // whole truth, so start from nothing.
      items.forEach(function (item) { item.nodes.forEach(function (n) { n.remove(); }); });
      items.clear();
      staleness.clear(); // the stale topics are told again after the snapshot
      list.insertBefore(empty, list.firstChild);
      markTwins();
      host.dispatchEvent(new CustomEvent("livefeed:reset", { bubbles: true, detail: info }));
    }
  });

  // followScheme sets the host's data-scheme, light or dark, from
  // data-theme: for auto, the host page's color-scheme where it names one
  // scheme only, else the visitor's preference, followed as it changes.
  function followScheme() {
    var prefersDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
    var apply = function () {
      var scheme = theme;
      if (theme === "auto") {
        var page = (getComputedStyle(host).colorScheme || "").split(/\s+/);
        var light = page.indexOf("light") >= 0, dark = page.indexOf("dark") >= 0;
        scheme = dark && !light ? "dark" : light && !dark ? "light" : prefersDark && prefersDark.matches ? "dark" : "light";
      }
      host.setAttribute("data-scheme", scheme);
    };
    apply();
    if (theme === "auto" && prefersDark && prefersDark.addEventListener) prefersDark.addEventListener("change", apply);
  }

  function render(env, item) {
    var d = env.data;
    var changed = !!item; // a first render (the snapshot) does not flash
    if (!item) {
      item = { id: 0, nodes: [] };
      var boxes = copies || [list];
      boxes.forEach(function (box) {
        var node = kind === "ticker" ? tickNode() : kind === "tape" ? tapeNode() : gameNode();
        node.setAttribute("data-topic", env.topic);
        item.nodes.push(node);
      });
      item.node = item.nodes[0];
      empty.remove();
      // Keep the list in topic order, as people read it: g2 before g10.
      var after = null;
      items.forEach(function (other, t) {
        if (collator.compare(t, env.topic) > 0 && (!after || collator.compare(t, after.t) < 0)) after = { t: t, item: other };
      });
      items.set(env.topic, item);
      boxes.forEach(function (box, i) { box.insertBefore(item.nodes[i], after ? after.item.nodes[i] : null); });
      if (!priced) item.node.fields.where.textContent = placeOf(env.topic);
      if (staleness.has(env.topic)) markStale(item, staleness.get(env.topic));
      if (watching.has(env.topic)) showWatching(item, watching.get(env.topic));
    }
    item.id = env.id;
    if (priced) {
      var move = changed && typeof d.price === "number" && typeof item.price === "number" ? d.price - item.price : 0;
      item.price = d.price;
      item.nodes.forEach(function (node) { showTick(node, d); });
      if (changed) item.nodes.forEach(function (node) { flash(node, move > 0 ? "rise" : move < 0 ? "fall" : ""); });
    } else {
      showGame(item.node, d);
      item.data = d;
      item.time = Date.parse(env.time);
      item.matchup = text(d.home) + "\n" + text(d.away);
      showInfo(item);
      item.node.classList.toggle("is-live", d.status === "live");
      markTwins();
      if (changed) flash(item.node, "");
    }
  }

  // markStale marks a game's or symbol's rows as delayed (notice, from
  // a "stale" notice) or not (null): words and a sign, not a colour
  // alone, and a data-stale attribute (when it was last heard of) that a
  // site may style.
  function markStale(item, notice) {
    item.nodes.forEach(function (node) {
      if (notice) node.setAttribute("data-stale", notice.since); else node.removeAttribute("data-stale");
      node.fields.lag.hidden = !notice;
      node.fields.lag.title = notice ? delayedSince(notice) : "";
    });
  }

  // showWatching writes how many watch a game or symbol (see
  // watchingText), as text; "" hides it.
  function showWatching(item, what) {
    item.nodes.forEach(function (node) {
      var v = node.fields.viewers;
      if (v.textContent !== what) v.textContent = what;
      v.hidden = !what;
    });
  }

  // delayedSince says since when a stale topic was last heard of, in
  // the visitor's time (its UTC text if it is not a time).
  function delayedSince(notice) {
    // Only the server's form of a time: Date.parse reads dates into
    // other text as well.
    var when = /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(notice.since) ? Date.parse(notice.since) : NaN;
    return "No update since " + (isNaN(when) ? notice.since : new Date(when).toLocaleTimeString());
  }

  // flash plays the row's one short highlight again: a CSS animation that
  // ends by itself, its class taken off when it does, so that even a
  // symbol ticking twice a second rests between changes. Not for visitors
  // who ask for reduced motion.
  function flash(node, move) {
    node.classList.remove("flash", "rise", "fall");
    if (reducedMotion.matches) return;
    void node.offsetWidth; // restart the animation
    node.classList.add("flash");
    if (move) node.classList.add(move);
  }

  function endFlash(e) {
    if (e.target === this) this.classList.remove("flash", "rise", "fall");
  }

  // showTick writes a symbol's price and change: an arrow and a sign say
  // which way it moved, not its colour alone.
  function showTick(node, d) {
    var f = node.fields;
    f.symbol.textContent = f.symbol.title = text(d.symbol);
    f.price.textContent = number(d.price);
    var ch = typeof d.change === "number" ? d.change : 0;
    var pct = typeof d.change_pct === "number" ? d.change_pct : null;
    var dir = ch > 0 || ch === 0 && pct > 0 ? "up" : ch < 0 || ch === 0 && pct < 0 ? "down" : "flat";
    var arrow = dir === "up" ? "▲" : dir === "down" ? "▼" : "";
    node.classList.remove("up", "down", "flat");
    node.classList.add(dir);
    if (kind === "tape") {
      f.change.textContent = (arrow ? arrow + " " : "") + (pct !== null ? signed(pct, 2) + "%" : signed(ch));
      return;
    }
    f.arrow.textContent = arrow;
    f.move.textContent = signed(ch);
    f.pct.textContent = pct !== null ? signed(pct, 2) + "%" : "";
  }

  // showGame writes a game's teams and scores. A team's colour and logo
  // come only from values that validation let through (#rrggbb, an
  // https: URL), checked again here: they go into a style and an image's
  // source, never into markup.
  function showGame(node, d) {
    var f = node.fields, colours = false, logos = false;
    ["home", "away"].forEach(function (side) {
      var t = f[side], name = text(d[side]), abbr = text(d[side + "_abbr"]);
      t.name.textContent = name;
      t.team.title = name;
      t.abbr.textContent = /^[A-Za-z0-9]{2,5}$/.test(abbr) ? abbr : "";
      t.team.classList.toggle("has-abbr", !!t.abbr.textContent);
      t.score.textContent = text(d[side + "_score"]);
      var colour = text(d[side + "_color"]);
      colour = /^#[0-9a-fA-F]{6}$/.test(colour) ? colour : "";
      t.chip.style.backgroundColor = colour;
      colours = colours || !!colour;
      var logo = text(d[side + "_logo"]);
      logo = logo.length <= 512 && /^https:\/\/[^\/?#@\\\s]+([\/?#][^\\\s]*)?$/.test(logo) ? logo : "";
      showLogo(t, logo, name);
      logos = logos || !!logo;
    });
    node.classList.toggle("coloured", colours);
    node.classList.toggle("logos", logos);
  }

  // showLogo shows a team's logo as an image of a fixed size, loaded
  // without telling the logo's host which page shows it, only when it
  // comes into view; one that fails to load is hidden.
  function showLogo(t, url, name) {
    if (!url) {
      if (t.logo) { t.logo.remove(); t.logo = null; }
      return;
    }
    if (!t.logo) {
      var img = document.createElement("img");
      img.className = "logo";
      img.width = img.height = 20;
      img.referrerPolicy = "no-referrer";
      img.loading = "lazy";
      img.decoding = "async";
      img.addEventListener("error", function () { img.hidden = true; });
      img.addEventListener("load", function () { img.hidden = false; });
      t.slot.appendChild(img);
      t.logo = img;
    }
    t.logo.alt = name;
    if (t.logo.getAttribute("src") !== url) {
      t.logo.hidden = false;
      t.logo.src = url;
    }
  }

  // fitTape sets the tape's speed (50 px a second, however many symbols)
  // and keeps it still while every symbol fits. A new duration moves the
  // track to another place in its loop, so a price a little wider or
  // narrower than before (a width changing by less than a tenth) keeps
  // the one it has.
  function fitTape() {
    var width = copies[0].getBoundingClientRect().width;
    frame.classList.toggle("still", width <= list.clientWidth);
    var secs = Math.max(8, width / 50), now = parseFloat(track.style.animationDuration);
    if (!now || Math.abs(secs - now) > now / 10) track.style.animationDuration = secs.toFixed(1) + "s";
  }

  // showInfo writes a game's status, period and clock; a running clock
  // is worked out from the time of its latest event.
  function showInfo(item) {
    var d = item.data, info = [];
    if (d.status) info.push(text(d.status));
    if (d.period !== undefined && d.period !== null) info.push(typeof d.period === "number" ? "P" + d.period : text(d.period));
    var clock = clockNow(d, item.time);
    if (clock) info.push(clock);
    item.node.fields.info.textContent = info.join(" · ");
  }

  function clockNow(d, time) {
    var clock = text(d.clock);
    var m = /^(\d{1,3}):(\d\d)$/.exec(clock);
    if (!m || (d.clock_running !== "down" && d.clock_running !== "up") || !time) return clock;
    var secs = Number(m[1]) * 60 + Number(m[2]);
    var elapsed = Math.max(0, Math.floor((Date.now() - time) / 1000));
    secs = d.clock_running === "down" ? Math.max(0, secs - elapsed) : secs + elapsed;
    return Math.floor(secs / 60) + ":" + String(secs % 60).padStart(2, "0");
  }

  if (!priced) {
    setInterval(function () {
      items.forEach(function (item) { if (item.data && item.data.clock_running) showInfo(item); });
    }, 1000);
  }

  // placeOf reads a game's league and date from its topic:
  // "nba/2026-11-21/lal-bos" is "NBA · 21 Nov 2026".
  function placeOf(topic) {
    var segs = topic.split("/"), out = [];
    if (segs.length > 1) out.push(segs[0].toUpperCase());
    for (var i = 1; i < segs.length; i++) {
      var m = /^(\d{4})-(\d\d)-(\d\d)$/.exec(segs[i]);
      if (m) {
        var day = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
        if (!isNaN(day)) out.push(day.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }));
        break;
      }
    }
    return out.join(" \u00b7 ");
  }

  // markTwins shows the topic of games whose teams are the same as
  // another's, so that two "Lakers vs Celtics" rows can be told apart.
  function markTwins() {
    if (priced) return;
    var seen = {};
    items.forEach(function (item) { if (item.matchup) seen[item.matchup] = (seen[item.matchup] || 0) + 1; });
    items.forEach(function (item, topic) {
      var twin = seen[item.matchup] > 1;
      item.node.classList.toggle("twin", twin);
      item.node.fields.topic.textContent = twin ? topic : "";
    });
  }

  function gameNode() {
    var node = el("div", "game");
    var meta = el("div", "meta"), info = el("span", "info"), where = el("span", "where");
    var topic = el("div", "topic"), lag = lagNote(), viewers = viewersNote();
    meta.append(info, lag, viewers, where);
    node.append(meta);
    node.fields = { info: info, where: where, topic: topic, lag: lag, viewers: viewers };
    ["home", "away"].forEach(function (side) {
      var row = el("div", "row " + side);
      var team = el("span", "team " + side), chip = el("span", "chip"), slot = el("span", "slot");
      var name = el("span", "name"), abbr = el("span", "abbr"), score = el("span", "score " + side);
      team.append(name, abbr);
      row.append(chip, slot, team, score);
      node.append(row);
      node.fields[side] = { team: team, chip: chip, slot: slot, name: name, abbr: abbr, score: score, logo: null };
    });
    node.append(topic);
    node.addEventListener("animationend", endFlash);
    return node;
  }

  function tickNode() {
    var node = el("div", "tick");
    var symbol = el("span", "symbol"), price = el("span", "price"), change = el("span", "change"), pct = el("span", "pct");
    var arrow = el("span", "arrow"), move = el("span", "move");
    change.append(arrow, move);
    var lag = lagNote(), viewers = viewersNote();
    node.append(symbol, price, change, pct, lag, viewers);
    node.fields = { symbol: symbol, price: price, change: change, arrow: arrow, move: move, pct: pct, lag: lag, viewers: viewers };
    node.addEventListener("animationend", endFlash);
    return node;
  }

  function tapeNode() {
    var node = el("span", "tick");
    var symbol = el("span", "symbol"), price = el("span", "price"), change = el("span", "change"), lag = lagNote(), viewers = viewersNote();
    node.append(symbol, price, change, lag, viewers);
    node.fields = { symbol: symbol, price: price, change: change, lag: lag, viewers: viewers };
    node.addEventListener("animationend", endFlash);
    return node;
  }

  // lagNote is a row's "data delayed" label, hidden while it is fresh.
  function lagNote() {
    var lag = el("span", "lag", "\u26a0 data delayed");
    lag.hidden = true;
    return lag;
  }

  // viewersNote is a row's "12 watching", hidden until the server says.
  function viewersNote() {
    var v = el("span", "viewers");
    v.hidden = true;
    return v;
  }

  // el makes an element; its text, if any, is set as text.
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content !== undefined) e.textContent = content;
    return e;
  }

  function text(v) { return v === undefined || v === null ? "" : String(v); }

  // cssLength reads data-max-height: a number of pixels or a CSS length
  // in px, rem, em or vh; anything else is ignored.
  function cssLength(v) {
    v = (v || "").trim();
    if (/^\d{1,5}$/.test(v)) return v + "px";
    return /^\d{1,5}(\.\d{1,3})?(px|rem|em|vh)$/.test(v) ? v : "";
  }

  // signed writes a change with its sign: +1.25, −1.25 (a minus sign,
  // as wide as the plus in tabular figures), 0.00.
  function signed(v, digits) {
    var s = digits ? Math.abs(v).toFixed(digits) : number(Math.abs(v));
    return (v > 0 ? "+" : v < 0 ? "−" : "") + s;
  }

  function number(v) {
    if (typeof v !== "number") return text(v);
    return v.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 4 });
  }

  // styleInto gives the shadow root its styles through a constructed style
  // sheet: host pages' Content-Security-Policy does not block those, as it
  // would a <style> element. Custom properties let a page restyle it.
  function styleInto(r) {
    var css = [
      // The theme: each colour from a --livefeed-* property the page may
      // set on the widget's element, else the theme's own.
      ":host{display:block;margin:0 0 var(--livefeed-gap,12px);font:14px/1.35 var(--livefeed-font,system-ui,-apple-system,'Segoe UI',sans-serif);" +
        "--lf-bg:var(--livefeed-bg,#fff);--lf-fg:var(--livefeed-fg,#17202a);--lf-muted:var(--livefeed-muted,#5f6b78);" +
        "--lf-border:var(--livefeed-border,#d6dde5);--lf-rule:var(--livefeed-rule,#edf1f5);--lf-head:var(--livefeed-head,#17202a);" +
        "--lf-head-fg:var(--livefeed-head-fg,#fff);--lf-up:var(--livefeed-up,#12783f);--lf-down:var(--livefeed-down,#c0392b);" +
        "--lf-live:var(--livefeed-live,#c0392b);--lf-flash:var(--livefeed-flash,#fff0b3);--lf-warn:var(--livefeed-warn,#8a5300);" +
        "--lf-flash-up:var(--livefeed-flash-up,rgba(18,120,63,.18));--lf-flash-down:var(--livefeed-flash-down,rgba(192,57,43,.18));color:var(--lf-fg)}",
      ":host([data-scheme=dark]){--lf-bg:var(--livefeed-bg,#121a23);--lf-fg:var(--livefeed-fg,#e6edf3);--lf-muted:var(--livefeed-muted,#9aa6b2);" +
        "--lf-border:var(--livefeed-border,#2c3845);--lf-rule:var(--livefeed-rule,#1f2a35);--lf-head:var(--livefeed-head,#0a0f14);" +
        "--lf-head-fg:var(--livefeed-head-fg,#fff);--lf-up:var(--livefeed-up,#3ecf74);--lf-down:var(--livefeed-down,#ff6f61);" +
        "--lf-live:var(--livefeed-live,#ff6f61);--lf-flash:var(--livefeed-flash,#4d4214);--lf-warn:var(--livefeed-warn,#f2b84b);" +
        "--lf-flash-up:var(--livefeed-flash-up,rgba(62,207,116,.24));--lf-flash-down:var(--livefeed-flash-down,rgba(255,111,97,.24))}",
      ".frame{container:lf/inline-size;max-width:var(--livefeed-max-width,40rem);min-width:0;background:var(--lf-bg);color:var(--lf-fg);border:1px solid var(--lf-border);border-radius:10px;overflow:hidden;color-scheme:light}",
      ":host([data-scheme=dark]) .frame{color-scheme:dark}",
      ".head{display:flex;justify-content:space-between;align-items:center;gap:8px;min-width:0;padding:8px 12px;background:var(--lf-head);color:var(--lf-head-fg)}",
      ".title{font-weight:700;letter-spacing:.02em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;min-width:0}",
      ".state{flex:none;font-size:12px;padding:2px 8px;border-radius:999px;background:#5b6673;color:#fff}",
      ".state.live{background:#1f8a4c}.state.live::before{content:'● '}",
      ".state.live.delayed{background:#5b6673}.state.live.delayed::before{content:'◷ '}",
      ".state.reconnecting{background:#b7791f}",
      ".state.error{background:#c0392b}",
      ".list{padding:4px 0}.list.scrolls{overflow-y:auto;overscroll-behavior:contain;box-sizing:border-box}",
      ".empty{padding:14px 12px;color:var(--lf-muted)}.empty.problem{color:var(--lf-down);overflow-wrap:anywhere}",
      // The scoreboard: a game a block, a team a row.
      ".game{padding:8px 12px;border-top:1px solid var(--lf-rule)}.game:first-child{border-top:0}",
      ".meta{display:flex;justify-content:space-between;gap:8px;min-width:0}",
      ".info{font-size:12px;color:var(--lf-muted);text-transform:uppercase;letter-spacing:.04em;min-height:1em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;min-width:0}",
      ".game.is-live .info{color:var(--lf-live);font-weight:600}",
      ".where{font-size:11px;color:var(--lf-muted);white-space:nowrap;flex:none;letter-spacing:.02em}",
      ".game .topic{font:11px/1.4 ui-monospace,Menlo,monospace;color:var(--lf-muted);overflow-wrap:anywhere}.game .topic:empty{display:none}",
      ".row{display:flex;align-items:center;gap:8px;font-size:16px;min-width:0;margin-top:2px}",
      ".team{flex:1 1 auto;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;min-width:0}",
      ".abbr{display:none;font-weight:600;letter-spacing:.04em}",
      // Narrow: the abbreviation, where there is one, in place of the name.
      "@container lf (max-width:400px){.has-abbr .name{display:none}.has-abbr .abbr{display:inline}.tape .title{display:none}}",
      ".chip{display:none;flex:none;width:4px;height:1.15em;border-radius:2px;background:var(--lf-rule)}.coloured .chip{display:block}",
      ".slot{display:none;flex:none;width:20px;height:20px}.logos .slot{display:block}",
      ".logo{display:block;width:20px;height:20px;object-fit:contain}.logo[hidden]{display:none}",
      ".score{flex:none;font-weight:700;font-variant-numeric:tabular-nums;min-width:2ch;text-align:right}",
      ".compact .head{padding:4px 10px}.compact .game{padding:3px 10px}.compact .row{font-size:14px;line-height:1.25;margin-top:0}.compact .meta{font-size:11px}",
      // The ticker: one row a symbol, in columns shared by every row.
      ".ticks{display:grid;grid-template-columns:minmax(3.5em,1fr) auto auto auto;column-gap:14px;padding:2px 0}",
      ".arrow:not(:empty){margin-right:4px}",
      // Narrow: the change in per cent only (and its arrow), so that the
      // symbols keep their room.
      "@container lf (max-width:360px){.ticks{column-gap:10px}.ticks .move{display:none}.arrow:not(:empty){margin-right:0}}",
      ".ticks .empty{grid-column:1/-1}",
      ".ticks .tick{display:grid;grid-column:1/-1;grid-template-columns:subgrid;align-items:baseline;padding:7px 12px;border-top:1px solid var(--lf-rule)}",
      ".ticks .tick:first-child{border-top:0}",
      ".compact .ticks .tick{padding:3px 10px;font-size:13px}",
      ".symbol{font-weight:700;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;min-width:0}",
      ".price,.change,.pct{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}",
      ".change,.pct{font-size:13px}.up .change,.up .pct{color:var(--lf-up)}.down .change,.down .pct{color:var(--lf-down)}.flat .change,.flat .pct{color:var(--lf-muted)}",
      // The tape: one line moving sideways, still under the pointer or
      // the focus, and when everything fits.
      ".frame.tape{display:flex;align-items:stretch;max-width:var(--livefeed-max-width,none)}",
      ".tape .head{flex:none;padding:6px 10px}",
      ".tape .list{flex:1 1 auto;min-width:0;overflow:hidden;padding:0;display:flex;align-items:center}",
      ".tape .list:focus-visible{outline:2px solid var(--lf-up);outline-offset:-2px}",
      ".tape .empty{padding:6px 12px}",
      ".track{display:flex;flex:none;width:max-content;animation:lf-tape 30s linear infinite}",
      ".group{display:flex;flex:none;gap:22px;padding:7px 11px}",
      ".tape .tick{display:inline-flex;gap:6px;align-items:baseline;white-space:nowrap;border-radius:4px;padding:0 3px}",
      ".tape .change{font-size:13px}",
      "@keyframes lf-tape{from{transform:translateX(0)}to{transform:translateX(-50%)}}",
      ".list:hover .track,.list:focus .track,.list:focus-within .track{animation-play-state:paused}",
      ".still .track{animation:none}.still .copy{display:none}",
      // A stale game or symbol: "⚠ data delayed" in the warning colour,
      // its figures muted (they may be out of date).
      ".lag{flex:none;font-size:11px;font-weight:600;color:var(--lf-warn);white-space:nowrap;letter-spacing:.02em}.lag[hidden]{display:none}",
      "[data-stale] .score,[data-stale] .price,.ticks [data-stale] .change,.ticks [data-stale] .pct,.tape [data-stale] .change{color:var(--lf-muted)}",
      ".ticks .lag{grid-column:1/-1;margin-top:1px}.meta .lag{margin-right:auto}",
      "@container lf (max-width:400px){.game[data-stale] .where{display:none}}",
      // How many watch a game or symbol: small and muted, on the game's
      // line of league and date, under a ticker's row, after a tape's.
      ".viewers{flex:none;font-size:11px;color:var(--lf-muted);white-space:nowrap;font-variant-numeric:tabular-nums}.viewers[hidden]{display:none}",
      ".meta .viewers{margin-left:auto}.ticks .viewers{grid-column:1/-1;margin-top:1px}",
      // A change: one short highlight, tinted by which way a price moved.
      "@keyframes lf-flash{from{background-color:var(--lf-flash)}to{background-color:transparent}}",
      "@keyframes lf-rise{from{background-color:var(--lf-flash-up)}to{background-color:transparent}}",
      "@keyframes lf-fall{from{background-color:var(--lf-flash-down)}to{background-color:transparent}}",
      ".flash{animation:lf-flash .4s ease-out}.flash.rise{animation-name:lf-rise}.flash.fall{animation-name:lf-fall}",
      "@media (prefers-reduced-motion:reduce){.flash{animation:none}.tape .track{animation:none;flex:1 1 auto;width:auto;min-width:0}" +
        ".tape .group{flex:1 1 auto;flex-wrap:wrap;row-gap:4px;min-width:0}.tape .copy{display:none}}"
    ].join("\n");
    if (r.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(css);
        r.adoptedStyleSheets = [sheet];
        return;
      } catch (err) { /* fall through */ }
    }
    r.appendChild(el("style", "", css));
  }
})();
